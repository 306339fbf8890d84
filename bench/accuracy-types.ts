/**
 * The shape of part 4's result (the simulator's accuracy tables), kept apart
 * from the code that runs the simulator so that the report renderer and its
 * tests do not depend on the simulator's internals.
 */

/** One table of figures. */
export interface AccuracyTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

/** Result of part 4. */
export interface AccuracyResult {
  readonly tables: readonly AccuracyTable[];
  /** Settings and caveats, one sentence each. */
  readonly notes: readonly string[];
}

/**
 * Generated parts of hand-written documents: a part lies between two marker
 * lines (HTML comments, invisible when rendered) and a generator only ever
 * replaces what is between them; everything outside is left byte for byte.
 * The benchmark writes docs/performance.md this way, the simulator
 * docs/accuracy.md.
 */

/** The markers around a generated part. */
export interface SectionMarkers {
  readonly begin: string;
  readonly end: string;
}

/** Thrown when a document's markers are missing, repeated or out of order. */
export class GeneratedSectionError extends Error {
  override readonly name = 'GeneratedSectionError';
}

/**
 * `doc` with the text between its markers replaced by `section`.
 *
 * @throws {@link GeneratedSectionError} unless `doc` holds each marker exactly once, in order.
 */
export function withSection(
  doc: string,
  markers: SectionMarkers,
  section: string,
  docName: string,
): string {
  const count = (marker: string) => doc.split(marker).length - 1;
  const problems: string[] = [];
  for (const marker of [markers.begin, markers.end]) {
    const n = count(marker);
    if (n !== 1) problems.push(`"${marker}" occurs ${n} times (expected once)`);
  }
  const begin = doc.indexOf(markers.begin);
  const end = doc.indexOf(markers.end);
  if (problems.length === 0 && end < begin) problems.push('the END marker comes before BEGIN');
  if (problems.length > 0) {
    throw new GeneratedSectionError(
      `${docName}: cannot place the generated part: ${problems.join('; ')}`,
    );
  }
  const body = section.endsWith('\n') ? section : `${section}\n`;
  return `${doc.slice(0, begin + markers.begin.length)}\n\n${body}\n${doc.slice(end)}`;
}

/** The text between the markers of `doc` (what {@link withSection} put there). */
export function sectionOf(doc: string, markers: SectionMarkers, docName: string): string {
  const begin = doc.indexOf(markers.begin);
  const end = doc.indexOf(markers.end);
  if (begin < 0 || end < begin) {
    throw new GeneratedSectionError(`${docName}: no generated part between markers`);
  }
  return doc
    .slice(begin + markers.begin.length, end)
    .replace(/^\n\n/, '')
    .replace(/\n$/, '');
}

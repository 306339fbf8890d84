/**
 * The terminal side of `npm start`: a status block redrawn in place on a TTY
 * (ANSI cursor moves), or plain `[status]` lines printed periodically, and
 * only when something changed, when the output is a pipe or a file. Log lines
 * are printed above the block so they never tear it.
 */

import { plainChanged, renderPlain, renderTable, type StatusSnapshot } from './status';

/** Where the display writes; a TTY gets the live table. */
export interface DisplayStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options of {@link Display}. */
export interface DisplayOptions {
  readonly out: DisplayStream;
  /** Fetches the snapshot to show. */
  readonly snapshot: () => Promise<StatusSnapshot>;
  /** Redraw period on a TTY (ms). @default 1000 */
  readonly ttyEveryMs?: number;
  /** Check period when not a TTY (ms); lines are printed only when something changed ({@link plainChanged}). @default 10000 */
  readonly plainEveryMs?: number;
}

/** Live status output. */
export class Display {
  private timer: NodeJS.Timeout | undefined;
  private drawnLines = 0;
  private lastPrinted: StatusSnapshot | undefined;
  private busy = false;
  private stopped = false;
  private lastBlock: string[] = [];
  private readonly tty: boolean;

  constructor(private readonly options: DisplayOptions) {
    this.tty = options.out.isTTY === true;
  }

  /** Starts refreshing. */
  start(): void {
    const everyMs = this.tty
      ? (this.options.ttyEveryMs ?? 1000)
      : (this.options.plainEveryMs ?? 10_000);
    this.timer = setInterval(() => {
      this.refresh().catch(() => undefined);
    }, everyMs);
    this.timer.unref();
    this.refresh().catch(() => undefined);
  }

  /** Prints a line above the status block. */
  log(line: string): void {
    if (this.tty) {
      this.erase();
      this.options.out.write(`${line}\n`);
      this.redrawLast();
    } else {
      this.options.out.write(`${line}\n`);
    }
  }

  /** Stops refreshing; the last table stays on screen. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Fetches a snapshot and shows it. */
  async refresh(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const snapshot = await this.options.snapshot();
      if (this.stopped) return;
      if (this.tty) {
        const columns = this.options.out.columns ?? 0;
        const width = columns > 0 ? columns : 120;
        this.erase();
        this.lastBlock = renderTable(snapshot).map((l) =>
          l.length > width ? l.slice(0, width) : l,
        );
        this.redrawLast();
      } else {
        if (this.lastPrinted === undefined || plainChanged(this.lastPrinted, snapshot)) {
          this.lastPrinted = snapshot;
          this.options.out.write(`${renderPlain(snapshot).join('\n')}\n`);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private erase(): void {
    if (this.drawnLines > 0) {
      // Up to the block's first line, then clear to the end of the screen.
      this.options.out.write(`\x1b[${this.drawnLines}F\x1b[0J`);
      this.drawnLines = 0;
    }
  }

  private redrawLast(): void {
    if (this.lastBlock.length === 0) return;
    this.options.out.write(`${this.lastBlock.join('\n')}\n`);
    this.drawnLines = this.lastBlock.length;
  }
}

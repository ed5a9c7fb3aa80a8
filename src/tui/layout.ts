/**
 * How many rows each panel gets for a terminal size. Pure, so the fit in 80×24 and the
 * panels dropped on small terminals are tested without drawing.
 */

export interface ScreenLayout {
  cols: number;
  rows: number;
  /** Fingerprint line under the header. */
  headerLines: 1 | 2;
  /** Rows for the groups table body (0: hidden). */
  groupRows: number;
  /** Scatter plot size in character cells (0 rows: hidden). */
  scatterCols: number;
  scatterRows: number;
  /** Groups table width when the scatter sits beside it. */
  groupsCols: number;
  pipeline: boolean;
  eventRows: number;
  /** Rows for the trials table body (0: hidden). */
  trialRows: number;
}

const MIN_COLS = 40;
const MIN_ROWS = 10;

export function computeLayout(cols: number, rows: number): ScreenLayout {
  const c = Math.max(MIN_COLS, Math.floor(cols));
  // One row is left free: ink redraws a frame as tall as the terminal poorly (it scrolls).
  const r = Math.max(MIN_ROWS, Math.floor(rows)) - 1;
  const headerLines: 1 | 2 = r >= 18 ? 2 : 1;
  // header + progress + best + footer
  let left = r - headerLines - 3;
  const pipeline = left >= 12;
  if (pipeline) left -= 1;
  const eventsTotal = left >= 14 ? Math.min(8, Math.max(3, Math.round(left * 0.15))) : 0;
  left -= eventsTotal;
  // middle = title + body; trials = title + header + body
  const middleTotal = left >= 10 ? Math.min(18, Math.max(4, Math.round(left * 0.45))) : left >= 6 ? 3 : 0;
  left -= middleTotal;
  const trialRows = Math.max(0, left - 2);
  const middleBody = Math.max(0, middleTotal - 1);
  const sideBySide = c >= 70 && middleBody >= 3;
  const groupsCols = sideBySide ? Math.min(64, Math.floor(c * 0.5)) : c;
  const scatterCols = sideBySide ? c - groupsCols - 1 - 7 : 0; // 7 for the y-axis labels
  return {
    cols: c,
    rows: r + 1,
    headerLines,
    groupRows: middleBody,
    scatterCols: Math.max(0, scatterCols),
    scatterRows: sideBySide ? Math.max(0, middleBody - 1) : 0, // one row for the x-axis labels
    groupsCols,
    pipeline,
    eventRows: Math.max(0, eventsTotal - 1),
    trialRows,
  };
}

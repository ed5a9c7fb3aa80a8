import { Box, Text } from 'ink';
import type { GroupRow } from '../model.js';
import { fit, formatFraction, padLeft, padRight } from '../format.js';
import { useTheme } from '../theme.js';

/** Table lines: a header then one line per group; the last line says how many are not shown. */
export function groupLines(groups: GroupRow[], width: number, rows: number): string[] {
  if (rows <= 0) return [];
  // id | pattern | ratio | prec | propagated
  const fixed = 1 + 10 + 1 + 6 + 1 + 5 + 1 + 6;
  const idW = Math.max(6, width - fixed);
  const line = (id: string, pat: string, ratio: string, prec: string, prop: string): string =>
    fit(`${padRight(id, idW)} ${padRight(pat, 10)} ${padLeft(ratio, 6)} ${padRight(prec, 5)} ${padLeft(prop, 6)}`, width);
  const out = [line('group', 'pattern', 'ratio', 'prec', 'prop.')];
  const body = rows - 1;
  if (groups.length === 0) {
    if (body > 0) out.push(fit('(no best candidate yet)', width));
    return out;
  }
  const shown = groups.length > body ? Math.max(0, body - 1) : groups.length;
  for (const g of groups.slice(0, shown)) {
    out.push(line(g.id, g.pattern, formatFraction(g.ratio), g.precision, formatFraction(g.propagatedSparsity)));
  }
  if (shown < groups.length && body > 0) out.push(fit(`… ${groups.length - shown} more`, width));
  return out;
}

export function GroupsTable({ groups, width, rows }: { groups: GroupRow[]; width: number; rows: number }) {
  const t = useTheme();
  const lines = groupLines(groups, width, rows);
  return (
    <Box flexDirection="column" width={width}>
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate" bold={i === 0} dimColor={i === 0 ? false : undefined} color={i === 0 ? t.c('cyan') : undefined}>
          {l}
        </Text>
      ))}
    </Box>
  );
}

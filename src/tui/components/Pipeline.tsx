import { Box, Text } from 'ink';
import type { PipelineView } from '../model.js';
import { fit, formatMs } from '../format.js';
import { useTheme } from '../theme.js';

export function pipelineLine(p: PipelineView): string {
  const phase =
    p.phase === 'building'
      ? p.kernelsBuilding > 0 ? `building ${p.kernelsBuilding} kernel${p.kernelsBuilding === 1 ? '' : 's'}` : 'compiling'
    : p.phase === 'baseline' ? 'measuring dense baseline'
    : p.phase;
  const hit = p.cacheLookups > 0 ? `${Math.round((100 * p.cacheHits) / p.cacheLookups)}% (${p.cacheHits}/${p.cacheLookups})` : '–';
  return `pipeline  ${phase}  ·  kernel cache hits ${hit}  ·  dense ${formatMs(p.baselineMs)}`;
}

export function Pipeline({ pipeline, width }: { pipeline: PipelineView; width: number }) {
  const t = useTheme();
  return (
    <Box width={width}>
      <Text wrap="truncate" color={pipeline.phase === 'idle' ? undefined : t.c('blue')}>{fit(pipelineLine(pipeline), width)}</Text>
    </Box>
  );
}

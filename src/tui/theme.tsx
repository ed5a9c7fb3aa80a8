/**
 * Colour on or off for the whole screen. NO_COLOR (https://no-color.org) turns every colour
 * and dim attribute off; panels ask `useTheme()` instead of naming colours directly.
 */
import { createContext, useContext, type ReactNode } from 'react';

export type ColorName = 'green' | 'yellow' | 'red' | 'cyan' | 'magenta' | 'blue' | 'gray';

export interface Theme {
  color: boolean;
  /** The colour to pass to <Text color>, or undefined when colour is off. */
  c(name: ColorName): ColorName | undefined;
  /** Whether to pass dimColor. */
  dim: boolean;
}

export function makeTheme(color: boolean): Theme {
  return { color, c: (name) => (color ? name : undefined), dim: color };
}

/** Colour is on unless NO_COLOR is set to anything non-empty. */
export function colorFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return !(env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '');
}

const ThemeContext = createContext<Theme>(makeTheme(true));

export function ThemeProvider({ color, children }: { color: boolean; children: ReactNode }) {
  return <ThemeContext.Provider value={makeTheme(color)}>{children}</ThemeContext.Provider>;
}

export function useTheme(): Theme {
  return useContext(ThemeContext);
}

import * as os from 'os';
import * as path from 'path';

/**
 * Where synthetic sets and decoded sets are kept between studies: $STUDY_CACHE_DIR, else
 * $XDG_CACHE_HOME/gan-study, else ~/.cache/gan-study. STUDY_CACHE_DIR=off (or empty) keeps
 * everything inside each run directory instead.
 */
export function studyCacheDir(env: NodeJS.ProcessEnv, home: string = os.homedir()): string | null {
  const own = env.STUDY_CACHE_DIR;
  if (own !== undefined) return own.trim() === '' || own.trim() === 'off' ? null : path.resolve(own);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'gan-study');
  return home ? path.join(home, '.cache', 'gan-study') : null;
}

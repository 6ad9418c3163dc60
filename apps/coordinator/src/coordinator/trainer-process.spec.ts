/**
 * The environment trainers start with: glibc malloc settings by default (see TRAINER_MALLOC_ENV),
 * the user's own values kept, and bin/study.js giving the `study` process the same defaults.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { TRAINER_MALLOC_ENV } from '@gan-study/core';
import { REPO_ROOT, trainerEnv } from './trainer-process';

describe('trainerEnv', () => {
  it('adds the malloc settings and the path map to the environment', () => {
    const env = trainerEnv({ PATH: '/usr/bin', HOME: '/root' });
    expect(env).toMatchObject({ PATH: '/usr/bin', HOME: '/root', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '268435456' });
    expect(env.TSX_TSCONFIG_PATH).toBe(path.join(REPO_ROOT, 'tsconfig.base.json'));
  });

  it('keeps malloc settings the user set, in the environment or in the extra variables', () => {
    expect(trainerEnv({ MALLOC_MMAP_THRESHOLD_: '131072' })).toMatchObject({ MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '268435456' });
    expect(trainerEnv({ MALLOC_TRIM_THRESHOLD_: '0' }, { MALLOC_MMAP_THRESHOLD_: '65536', CUDA_VISIBLE_DEVICES: '1' })).toMatchObject({
      MALLOC_MMAP_THRESHOLD_: '65536',
      MALLOC_TRIM_THRESHOLD_: '0',
      CUDA_VISIBLE_DEVICES: '1',
    });
  });

  it('bin/study.js sets the same defaults for the study process it starts', async () => {
    const source = await fs.readFile(path.join(REPO_ROOT, 'apps', 'coordinator', 'bin', 'study.js'), 'utf8');
    for (const [key, value] of Object.entries(TRAINER_MALLOC_ENV)) expect(source).toContain(`${key}: '${value}'`);
    // ...as defaults under the user's environment, not over it.
    expect(source).toMatch(/env: \{ \.\.\.malloc, \.\.\.process\.env,/);
  });
});

import { execFileSync } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { buildProgram } from './main';

const ALL = ['run', 'coordinator', 'trainer', 'synth', 'models', 'metrics', 'report', 'status', 'doctor'];

describe('study command line', () => {
  it('registers only the subcommand asked for, and every one for help or an unknown name', () => {
    expect(buildProgram().commands.map((c) => c.name())).toEqual(ALL);
    expect(buildProgram('synth').commands.map((c) => c.name())).toEqual(['synth']);
    expect(buildProgram('--help').commands.map((c) => c.name())).toEqual(ALL);
    expect(buildProgram('help').commands.map((c) => c.name())).toEqual(ALL);
    expect(buildProgram('bogus').commands.map((c) => c.name())).toEqual(ALL);
  });

  it('`study run` does not load the models library or TensorFlow.js (a process of its own, as the CLI runs)', () => {
    const repo = path.resolve(__dirname, '..', '..', '..');
    const script = [
      `require(${JSON.stringify(path.join(__dirname, 'main.ts'))}).buildProgram('run');`,
      `const loaded = Object.keys(require.cache);`,
      `console.log(JSON.stringify({ tfjs: loaded.some((f) => f.includes('@tensorflow')), models: loaded.some((f) => f.includes('libs/models/')), run: loaded.some((f) => f.endsWith('commands/run.ts')) }));`,
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, '-e', script], {
      cwd: repo,
      env: { ...process.env, TSX_TSCONFIG_PATH: path.join(repo, 'tsconfig.base.json') },
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim().split('\n').pop() as string)).toEqual({ tfjs: false, models: false, run: true });
  });
});

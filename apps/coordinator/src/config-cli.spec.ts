import { Command } from 'commander';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { addConfigOptions, announceConfig, overridesModels, resolveFromCli, validateModelOverrides, type ConfigCliOptions } from './config-cli';

function parse(argv: string[]): ConfigCliOptions {
  const cmd = addConfigOptions(new Command('run').exitOverride());
  cmd.parse(argv, { from: 'user' });
  return cmd.opts<ConfigCliOptions>();
}

describe('config from the command line', () => {
  it('turns named flags and --set into overrides', () => {
    const r = resolveFromCli(parse(['--profile', 'smoke', '--budgets', '5,10', '--repeats', '2', '--set', 'classifier.epochs=3', '--gpus', '0,1']));
    expect(r.config.budgets).toEqual([5, 10]);
    expect(r.config.repeats).toBe(2);
    expect(r.config.classifier.epochs).toBe(3);
    expect(r.config.gpus).toEqual([0, 1]);
    expect(r.config.trainers).toBe(2);
    expect(r.sources['classifier.epochs']).toBe('flag');
  });

  it('names the flag and value at fault', () => {
    expect(() => resolveFromCli(parse(['--budgets', '5,x']))).toThrow("--budgets: 'x' in '5,x' is not a number");
    expect(() => resolveFromCli(parse(['--config', '/nonexistent/study.json']))).toThrow('--config /nonexistent/study.json: cannot read it (ENOENT)');
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    writeFileSync(path.join(dir, 'bad.json'), '{"repeats": }');
    expect(() => resolveFromCli(parse(['--config', path.join(dir, 'bad.json')]))).toThrow(/bad\.json: not valid JSON/);
    writeFileSync(path.join(dir, 'unknown.json'), '{"epochs": 3}');
    expect(() => resolveFromCli(parse(['--config', path.join(dir, 'unknown.json')]))).toThrow("unknown config key 'epochs'");
  });

  it('validates the model sections as the jobs will use them, before anything starts', () => {
    expect(() => resolveFromCli(parse(['--profile', 'smoke', '--set', 'classifier.hidden=16']))).toThrow(/config key 'classifier': .*hidden.*got 16/);
    expect(() => resolveFromCli(parse(['--profile', 'smoke', '--set', 'dcgan.latentDim=-3']))).toThrow(/config key 'dcgan': .*latentDim.*-3/);
    expect(() => resolveFromCli(parse(['--profile', 'smoke', '--set', 'cyclegan.nLayersD=3']))).toThrow(/config key 'cyclegan': resolution 16 is too small for nLayersD 3/);
    expect(() => resolveFromCli(parse(['--profile', 'smoke', '--set', 'pggan.bogus=1']))).toThrow(/config key 'pggan': .*bogus/);
    expect(() => resolveFromCli(parse(['--profile', 'smoke', '--set', 'ganResolution.cyclegan=8']))).toThrow(/config key 'cyclegan': resolution 8 is too small/);
    // A profile's own model settings are not re-checked on every run (that needs the models, and
    // TensorFlow.js, loaded); this is what makes skipping them safe: each profile's settings are valid.
    for (const profile of ['smoke', 'quick', 'paper']) {
      const r = resolveFromCli(parse(['--profile', profile, '--budgets', '50', '--gans', 'dcgan', '--trainers', '3']));
      expect(overridesModels(r.sources)).toBe(false);
      expect(() => validateModelOverrides(r.config)).not.toThrow();
    }
    expect(overridesModels({ 'classifier.epochs': 'flag' })).toBe(true);
    expect(overridesModels({ imageSize: 'file' })).toBe(true);
    expect(overridesModels({ 'ganResolution.dcgan': 'flag', repeats: 'flag' })).toBe(true);
    expect(overridesModels({ 'dataset.syntheticSeed': 'flag', profile: 'flag', gans: 'flag' })).toBe(false);
  });

  it('prints the config and saves it into the run directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    const r = resolveFromCli(parse(['--profile', 'smoke', '--run-dir', dir, '--repeats', '2']));
    let printed = '';
    const file = await announceConfig(r, (t) => (printed += t));
    expect(printed).toMatch(/repeats\s+= 2 {2}\(flag\) \[default: 1\]/);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.config.repeats).toBe(2);
    expect(saved.overrides.repeats).toBe('flag');
  });

  it('gives each run a fresh timestamped directory by default', () => {
    const r = resolveFromCli(parse([]), new Date('2026-11-29T01:02:03Z'));
    expect(r.config.runDir).toBe(path.resolve('runs', 'quick-20261129-010203'));
  });
});

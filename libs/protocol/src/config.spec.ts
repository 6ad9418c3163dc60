import { configRecord, formatConfig, parseAssignment, parseConfigRecord, PROFILES, resolveConfig } from './config';

describe('study config', () => {
  it('resolves every profile from its defaults alone', () => {
    for (const profile of PROFILES) {
      const { config, sources } = resolveConfig({ profile });
      expect(config.profile).toBe(profile);
      expect(sources).toEqual({ profile: 'flag' });
    }
    expect(resolveConfig().config.profile).toBe('quick');
  });

  it('applies the file, then flags, and records where each value came from', () => {
    const { config, sources } = resolveConfig({
      profile: 'smoke',
      file: { path: 'study.json', contents: { repeats: 3, classifier: { epochs: 2 }, budgets: [5, 10] } },
      flags: [parseAssignment('repeats=5'), parseAssignment('dataset.path=/data/skin')],
    });
    expect(config.repeats).toBe(5);
    expect(config.budgets).toEqual([5, 10]);
    expect(config.classifier).toEqual({ filters: [4, 8], hidden: [16], epochs: 2, batchSize: 16 });
    expect(config.dataset.path).toBe('/data/skin');
    expect(sources).toMatchObject({ repeats: 'flag', budgets: 'file', 'classifier.epochs': 'file', 'dataset.path': 'flag' });
  });

  it('names an unknown key, including nested ones', () => {
    expect(() => resolveConfig({ flags: [{ budget: [1] }] })).toThrow("unknown config key 'budget'");
    expect(() => resolveConfig({ flags: [parseAssignment('dataset.folder=/x')] })).toThrow("unknown config key 'dataset.folder'");
  });

  it('names the key and the value of a wrong type or range', () => {
    expect(() => resolveConfig({ flags: [parseAssignment('repeats=three')] })).toThrow(/config key 'repeats' = "three": .*expected number/);
    expect(() => resolveConfig({ flags: [parseAssignment('budgets=[50,-1]')] })).toThrow(/config key 'budgets.1' = -1/);
    expect(() => resolveConfig({ flags: [parseAssignment('backend=tpu')] })).toThrow(/config key 'backend' = "tpu"/);
    expect(() => resolveConfig({ profile: 'fast' })).toThrow("unknown profile 'fast'");
    expect(() => resolveConfig({ file: { path: 'a.json', contents: [1] } })).toThrow('a.json: the config file must hold a JSON object');
  });

  it('rejects inconsistent settings with the reason', () => {
    expect(() => resolveConfig({ flags: [{ budgets: [50, 50] }] })).toThrow('budgets must be distinct');
    expect(() => resolveConfig({ flags: [{ trainers: 2, gpus: [0] }] })).toThrow('2 trainers need 2 GPUs, 1 given');
    expect(() => resolveConfig({ flags: [{ trainers: 1, dataParallel: 2 }] })).toThrow('cannot have more replicas');
  });

  it('prints overrides with their default and round-trips through config.json', () => {
    const resolved = resolveConfig({ profile: 'quick', flags: [parseAssignment('repeats=3')] });
    const text = formatConfig(resolved);
    expect(text).toMatch(/^repeats\s+= 3 {2}\(flag\) \[default: 1\]$/m);
    expect(text).toMatch(/^seed\s+= 1$/m);
    const record = JSON.parse(JSON.stringify(configRecord(resolved)));
    expect(parseConfigRecord(record, 'config.json')).toEqual(resolved.config);
    expect(() => parseConfigRecord({ config: { profile: 'quick' } }, 'run/config.json')).toThrow('run/config.json: invalid study config');
  });

  it('resumes a run saved before balanceShards with its default, and takes it from --set', () => {
    const record = JSON.parse(JSON.stringify(configRecord(resolveConfig({ profile: 'quick' }))));
    expect(record.config.balanceShards).toBe(false);
    delete record.config.balanceShards;
    expect(parseConfigRecord(record, 'config.json').balanceShards).toBe(false);
    const { config, sources } = resolveConfig({ flags: [{ trainers: 2, dataParallel: 2 }, parseAssignment('balanceShards=true')] });
    expect(config.balanceShards).toBe(true);
    expect(sources.balanceShards).toBe('flag');
    expect(() => resolveConfig({ flags: [parseAssignment('balanceShards=yes')] })).toThrow(/config key 'balanceShards' = "yes"/);
  });

  it('parses --set values as JSON when they are JSON', () => {
    expect(parseAssignment('a.b=[1,2]')).toEqual({ a: { b: [1, 2] } });
    expect(parseAssignment('x=hello')).toEqual({ x: 'hello' });
    expect(parseAssignment('x=null')).toEqual({ x: null });
    expect(() => parseAssignment('novalue')).toThrow("--set expects key=value, got 'novalue'");
  });
});

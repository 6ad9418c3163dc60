import { studyCacheDir } from './cache-dir';

describe('studyCacheDir', () => {
  it('is $STUDY_CACHE_DIR, else $XDG_CACHE_HOME/gan-study, else ~/.cache/gan-study; off keeps data in the run directory', () => {
    expect(studyCacheDir({ STUDY_CACHE_DIR: '/data/cache', XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/data/cache');
    expect(studyCacheDir({ STUDY_CACHE_DIR: 'off' }, '/home/u')).toBeNull();
    expect(studyCacheDir({ STUDY_CACHE_DIR: '' }, '/home/u')).toBeNull();
    expect(studyCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/gan-study');
    expect(studyCacheDir({ XDG_CACHE_HOME: 'relative' }, '/home/u')).toBe('/home/u/.cache/gan-study');
    expect(studyCacheDir({}, '/home/u')).toBe('/home/u/.cache/gan-study');
    expect(studyCacheDir({}, '')).toBeNull();
  });
});

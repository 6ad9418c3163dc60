export { Rng, hashString } from './random';
export type { RngState } from './random';
export { writeFileAtomic, writeJsonAtomic, readJson, UserInputError, PermanentJobError } from './files';
export { studyCacheDir } from './cache-dir';
export { TRAINER_MALLOC_ENV } from './malloc-env';

export * from './common';
export * from './gan';
export * from './classifier';
export * from './gans';
export * from './pggan';
export * from './engine';
export * from './cyclegan';
export * from './pair-balance';

export * from './common';
export * from './gan';

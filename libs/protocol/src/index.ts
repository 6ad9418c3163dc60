export * from './config';
export * from './jobs';
export * from './plan';
export * from './messages';
export * from './transport';
export * from './results';

export * from './config';
export * from './jobs';

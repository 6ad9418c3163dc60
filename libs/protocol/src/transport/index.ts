export * from './log';
export * from './send-queue';
export * from './mailbox';
export * from './ring';
export * from './peers';
export * from './reducer';
export * from './dataset-wire';

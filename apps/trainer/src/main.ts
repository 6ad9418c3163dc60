/** Trainer process entry point: connects to a coordinator and runs the jobs it is given (issue 5). */
export {};

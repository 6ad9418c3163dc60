module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'coordinator',
  rootDir: __dirname,
  setupFiles: [require.resolve('../../jest.tfjs-setup.js')],
};

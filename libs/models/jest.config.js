module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'models',
  rootDir: __dirname,
  setupFiles: [require.resolve('../../jest.tfjs-setup.js')],
};

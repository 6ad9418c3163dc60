module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'trainer',
  rootDir: __dirname,
  setupFiles: [require.resolve('../../jest.tfjs-setup.js')],
};

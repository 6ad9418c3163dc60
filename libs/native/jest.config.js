module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'native',
  rootDir: __dirname,
};

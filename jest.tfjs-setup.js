// Test processes use tfjs's cpu and wasm backends on purpose: silence its advice to install the
// native binding, which would otherwise print a banner in every test file.
require('@tensorflow/tfjs').env().set('IS_TEST', true);

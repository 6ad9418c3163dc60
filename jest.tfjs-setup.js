// Test processes use tfjs's cpu and wasm backends on purpose: silence its advice to install the
// native binding, which would otherwise print a banner in every test file. PROD only mutes tfjs's
// warnings; IS_TEST would do the same but also turns on kernel leak checks that misreport
// custom-gradient ops (logSoftmax on wasm, softmaxCrossEntropy on cpu).
require('@tensorflow/tfjs').env().set('PROD', true);

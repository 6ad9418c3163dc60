{
  "targets": [
    {
      "target_name": "gan_study_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-O3", "-fno-exceptions"],
      "cflags_cc!": ["-O3", "-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-O2", "-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-ffp-contract=off", "-fno-math-errno"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}

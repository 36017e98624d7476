{
  "targets": [
    {
      "target_name": "weft_bpf",
      "sources": ["weft_bpf.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-lbpf"]
    }
  ]
}

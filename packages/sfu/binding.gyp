{
  "targets": [
    {
      "target_name": "colloquy_packet",
      "sources": ["native/packet.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}

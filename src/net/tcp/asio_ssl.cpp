// The compiled part of asio's TLS support (ASIO_SEPARATE_COMPILATION: see
// src/asio_impl.cpp), in libmosaik_tcp, the only library that uses it.
#include <asio/ssl/impl/src.hpp>

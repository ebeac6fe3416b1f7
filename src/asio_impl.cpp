// The compiled part of standalone asio. mosaik builds with
// ASIO_SEPARATE_COMPILATION (a public definition of mosaik::mosaik), so asio's
// non-inline functions live in this one translation unit of libmosaik.
#include <asio/impl/src.hpp>

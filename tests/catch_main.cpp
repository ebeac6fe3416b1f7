// The one translation unit that holds Catch2's main(). Kept in its own
// library, without the test precompiled header (which includes catch.hpp
// before CATCH_CONFIG_MAIN could be defined).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

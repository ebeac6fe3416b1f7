# Findasio.cmake -- finds standalone asio (header-only, no CMake config).
#
# Result variables:
#   asio_FOUND         TRUE when asio.hpp was found
#   asio_INCLUDE_DIR   directory holding asio.hpp (cache)
#   asio_INCLUDE_DIRS  same, for convention
#   asio_VERSION       e.g. 1.22.1, parsed from asio/version.hpp
#
# Imported target:
#   asio::asio         INTERFACE target: the include dir and Threads::Threads.
#
# Hints: asio_ROOT / ASIO_ROOT (CMake >= 3.12 honours <Pkg>_ROOT), or set
# asio_INCLUDE_DIR directly.
#
# No include_guard() here: find_package() must set the result variables in
# every scope that calls it; the target is guarded instead.

find_path(asio_INCLUDE_DIR
  NAMES asio.hpp
  HINTS "${ASIO_ROOT}" "$ENV{ASIO_ROOT}"
  PATH_SUFFIXES include asio/include
  DOC "Directory containing the standalone asio headers (asio.hpp)")
mark_as_advanced(asio_INCLUDE_DIR)

set(asio_VERSION "")
if(asio_INCLUDE_DIR AND EXISTS "${asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
    REGEX "^#[ \t]*define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    set(_asio_version_number "${CMAKE_MATCH_1}")
    math(EXPR _asio_major "${_asio_version_number} / 100000")
    math(EXPR _asio_minor "${_asio_version_number} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_number} % 100")
    set(asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  endif()
  unset(_asio_version_line)
  unset(_asio_version_number)
  unset(_asio_major)
  unset(_asio_minor)
  unset(_asio_patch)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(asio
  REQUIRED_VARS asio_INCLUDE_DIR
  VERSION_VAR asio_VERSION)

if(asio_FOUND)
  set(asio_INCLUDE_DIRS "${asio_INCLUDE_DIR}")
  if(NOT TARGET Threads::Threads)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
  endif()
  if(NOT TARGET asio::asio)
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${asio_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endif()

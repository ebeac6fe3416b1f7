#pragma once
// Everything the library offers, for programs that prefer one include. Each
// header is also usable on its own. The simulator and the worlds built on it
// (mosaik/sim/, mosaik/testing/; target mosaik::sim) are included by name.

#include <mosaik/core/cursor.hpp>
#include <mosaik/core/entry.hpp>
#include <mosaik/core/format.hpp>
#include <mosaik/core/ids.hpp>
#include <mosaik/core/index.hpp>
#include <mosaik/core/index_range.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/state_machine.hpp>
#include <mosaik/core/time.hpp>
#include <mosaik/group/group.hpp>
#include <mosaik/machines/counter.hpp>
#include <mosaik/machines/kv_store.hpp>
#include <mosaik/storage/in_memory_log.hpp>
#include <mosaik/storage/log_storage.hpp>
#include <mosaik/sync/log_replay/log_replay_sync.hpp>
#include <mosaik/sync/state_sync.hpp>

#pragma once
// LogReplayProvider: the serving side, run by every member (the leader too)
// for the group's whole life. It announces only committed entries, so every
// provider offers the same entry for the same index. A fetch may be served
// up to the context's serve_limit(): on the current leader that includes its
// uncommitted tail, which a session asks only of the leader it follows.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <variant>

#include <mosaik/core/format.hpp>
#include <mosaik/core/log.hpp>
#include <mosaik/core/state_machine.hpp>
#include <mosaik/sync/log_replay/log_replay_config.hpp>
#include <mosaik/sync/log_replay/log_replay_messages.hpp>
#include <mosaik/sync/sync_session_context.hpp>
#include <mosaik/wire/buffer_pool.hpp>

namespace mosaik::sync {

struct ProviderCounters {
  std::uint64_t availability_requests = 0;
  std::uint64_t fetch_requests = 0;
  std::uint64_t entries_served = 0;
  std::uint64_t empty_answers = 0;
  std::uint64_t ignored_messages = 0;
};

template <class Command>
class LogReplayProvider {
public:
  using Message = LogReplayMessage<Command>;
  using Context = SyncProviderContext<Command>;

  LogReplayProvider(const LogReplayConfig& config, Context& context) : config_(config), context_(context) {}

  /// What this provider announces: first held ..= min(last, commit). Never
  /// beyond the commit index, even on the leader (see servable()).
  [[nodiscard]] IndexRange availability() const {
    const auto held = context_.log().available();
    return held.intersect(IndexRange{held.first(), context_.commit_index()});
  }

  /// What this provider serves to a fetch: first held ..= min(last, serve limit),
  /// where the serve limit is never below the commit index (so it always
  /// includes availability()) and reaches past it only where the context
  /// allows (the current leader's uncommitted tail).
  [[nodiscard]] IndexRange servable() const {
    const auto held = context_.log().available();
    const auto limit = std::max(context_.commit_index(), context_.serve_limit());
    return held.intersect(IndexRange{held.first(), limit});
  }

  /// The response to a session's request, to be sent back to `sender`;
  /// nothing for a response (meant for sessions) or an empty request.
  [[nodiscard]] std::optional<Message> answer(PeerId sender, const Message& message) {
    if (std::holds_alternative<AvailabilityRequest>(message)) {
      ++counters_.availability_requests;
      return Message{AvailabilityResponse{availability()}};
    }
    if (const auto* fetch = std::get_if<FetchEntriesRequest>(&message)) {
      return serve(sender, fetch->range);
    }
    ++counters_.ignored_messages;
    return std::nullopt;
  }

  /// Log replay needs the whole log: it never allows pruning.
  [[nodiscard]] std::optional<Index> prune_bound() const { return std::nullopt; }
  /// Commit advances need no action: availability is computed on demand.
  void on_commit(Index) {}

  [[nodiscard]] const ProviderCounters& counters() const noexcept { return counters_; }

private:
  std::optional<Message> serve(PeerId sender, IndexRange requested) {
    ++counters_.fetch_requests;
    if (requested.empty()) {
      return std::nullopt; // nothing asked, nothing answered
    }
    const auto capped = requested.take_front(config_.batch_size);
    const auto served = capped.intersect(servable());
    FetchEntriesResponse<Command> response;
    std::uint64_t count = 0;
    if (context_.answers_go_on_a_wire()) {
      // Straight from the log into the frame: no decoded copy of each entry.
      storage::encode_range(context_.log(), served, config_.max_response_bytes, response.encoded, *answers_);
      count = response.encoded.count;
    } else {
      context_.log().read_range(served, config_.max_response_bytes, response.entries);
      count = response.entries.size();
    }
    if (count == 0) {
      ++counters_.empty_answers;
      log::debug("log-replay provider: nothing of {} to serve to peer {}", requested, sender);
      response.range = requested;
    } else {
      response.range = IndexRange::starting_at(served.first(), count);
      counters_.entries_served += count;
    }
    return Message{std::move(response)};
  }

  LogReplayConfig config_;
  Context& context_;
  ProviderCounters counters_;
  /// The encoded entries of answers sent on a wire, reused once sent.
  std::shared_ptr<wire::BufferPool> answers_ = wire::BufferPool::make();
};

} // namespace mosaik::sync

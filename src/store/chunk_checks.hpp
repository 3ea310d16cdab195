#pragma once

// The checks both stores make on a file's chunks before any byte reaches a sink, so that the
// embedded store and GridFS report the same damage with the same code and wording.

#include <cstdint>
#include <functional>
#include <string_view>

#include "claimcheck/store/store.hpp"

namespace claimcheck::store {

/// k = ceil(length / chunk_size): how many chunks a file of this length has.
std::uint64_t chunk_count(const FileInfo& info);

/// Throws StoreError(code) with "file ID is corrupt: WHAT".
[[noreturn]] void corrupt(StoreErrc code, std::string_view id, std::string_view what);

/// Checks the chunk numbering from a summary of the chunks (how many, lowest and highest n):
/// exactly 0..k-1 must exist. `first_gap` is asked only when the numbering has a gap, to name
/// the first missing chunk.
void check_chunk_numbers(const FileInfo& info, std::int64_t count, std::int64_t first,
                         std::int64_t last, const std::function<std::int64_t()>& first_gap);

/// Checks that chunk `n`, holding `size` bytes with `remaining` bytes of the file still to come,
/// has the size the files record implies: chunk_size, or exactly `remaining` for the last one.
void check_chunk_size(const FileInfo& info, std::uint64_t n, std::size_t size,
                      std::uint64_t remaining);

/// Checks the recorded length and chunk size before anything is allocated from them.
void check_recorded_sizes(std::string_view id, std::int64_t length, std::int64_t chunk_size);

}  // namespace claimcheck::store

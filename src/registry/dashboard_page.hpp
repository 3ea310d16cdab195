#pragma once

// The registry's dashboard: one self-contained HTML page (no external assets, so it works on a
// network without internet) whose script fetches /eureka/apps and /dashboard/status as JSON and
// redraws itself every few seconds.

#include <string_view>

namespace claimcheck::registry {

std::string_view dashboard_html();

}  // namespace claimcheck::registry

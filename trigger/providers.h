// Reading Git hosts' webhook deliveries: each provider's headers and JSON body turned into one
// SourceEvent, the provider's delivery id, and signature checks over the exact raw body.
#ifndef SLIPWAY_TRIGGER_PROVIDERS_H_
#define SLIPWAY_TRIGGER_PROVIDERS_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/pipeline.pb.h"

namespace slipway::trigger {

// Header names are lower case.
using Headers = std::map<std::string, std::string>;

// "github", "gitlab", "gitea", "bitbucket" → the provider; INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::Provider> ProviderFromName(std::string_view name);

// Parses a delivery. INVALID_ARGUMENT with the reason for a body that is not JSON, lacks the
// event header, or lacks what the event needs (repository, ref). Events Slipway does not act on
// parse as GIT_EVENT_KIND_OTHER.
absl::StatusOr<v1::SourceEvent> ParseDelivery(v1::Provider provider, const Headers& headers,
                                           std::string_view body);

// Only what is needed to find the delivery's binding before its signature is checked: the
// provider, the event header and the repository (and GIT_EVENT_KIND_PING for pings). Nothing
// else of an unverified body is read. INVALID_ARGUMENT as for ParseDelivery.
absl::StatusOr<v1::SourceEvent> ParseBinding(v1::Provider provider, const Headers& headers,
                                          std::string_view body);

// The provider's delivery id (X-GitHub-Delivery, GitLab Idempotency-Key, X-Gitea-Delivery,
// Bitbucket X-Request-UUID); when absent, "sha256:" + the body's hash, so that a repeated body
// still deduplicates.
std::string DeliveryId(v1::Provider provider, const Headers& headers, std::string_view body);

// Checks the request's signature (HMAC-SHA256 of the raw body for GitHub, Gitea and Bitbucket;
// the X-Gitlab-Token secret for GitLab) against `secret`, in constant time.
v1::SignatureVerdict VerifySignature(v1::Provider provider, const Headers& headers,
                                     std::string_view body, std::string_view secret);

// The headers worth keeping on a delivery record: everything but signatures and tokens, at
// most kMaxRecordedHeaders of them, each name and value valid UTF-8 and cut to its bound.
inline constexpr size_t kMaxRecordedHeaders = 40;
inline constexpr size_t kMaxRecordedHeaderName = 64;
inline constexpr size_t kMaxRecordedHeaderValue = 512;
Headers RedactHeaders(const Headers& headers);

}  // namespace slipway::trigger

#endif  // SLIPWAY_TRIGGER_PROVIDERS_H_

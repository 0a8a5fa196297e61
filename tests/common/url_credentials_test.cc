#include "common/url_credentials.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(UrlCredentialsTest, MasksUserInfoOfEveryUrlInText) {
  EXPECT_EQ(MaskUrlCredentials("GET https://ci:t0k@git.example/x: 401, then "
                               "http://bob@h:8080/?a=b@c"),
            "GET https://***@git.example/x: 401, then http://***@h:8080/?a=b@c");
  EXPECT_TRUE(HasUrlCredentials("clone \"ssh://git:pw@host/repo\" failed"));
  EXPECT_EQ(MaskUrlCredentials("clone \"ssh://git:pw@host/repo\" failed"),
            "clone \"ssh://***@host/repo\" failed");
}

TEST(UrlCredentialsTest, LeavesTextWithoutCredentialsAlone) {
  for (const char* text : {"mail ops@example.com", "https://host/path?to=a@b", "https://host",
                           "https://***@host/", "://@", "x://", ""}) {
    EXPECT_FALSE(HasUrlCredentials(text)) << text;
    EXPECT_EQ(MaskUrlCredentials(text), text);
  }
}

}  // namespace
}  // namespace slipway

#include "common/cli_docs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

namespace slipway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A small command tree shaped like slipway's: global flags, a group with kinds, a leaf.
class CliDocsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_.require_subcommand(1);
    app_.fallthrough();
    app_.add_option("--server", server_, "Address");
    app_.add_flag("--no-color", no_color_, "No colours");
    CLI::App* get = app_.add_subcommand("get", "List or show");
    get->require_subcommand(1);
    get->add_subcommand("pipelines", "List pipelines");
    get->add_subcommand("runs", "List runs")->add_option("target", target_, "PIPELINE");
    CLI::App* rollback = app_.add_subcommand("rollback", "Roll back");
    rollback->add_option("target", target_, "PIPELINE/STAGE")->required();
    rollback->add_flag("--dry-run", dry_run_, "Change nothing - just show");
    rollback->footer("Example:\n  slipway rollback shop/prod");
    app_.add_subcommand("secret", "Hidden")->group("");
  }
  const char* const* Argv(std::initializer_list<const char*> words) {
    argv_.assign(words);
    return argv_.data();
  }
  int Argc() const { return static_cast<int>(argv_.size()); }

  CLI::App app_{"test tool", "tool"};
  std::string server_, target_;
  bool no_color_ = false, dry_run_ = false;
  std::vector<const char*> argv_;
};

TEST(NearestNameTest, SuggestsATypoOnlyWhenClose) {
  const std::vector<std::string> names = {"get", "rollback", "runs", "run", "releases"};
  EXPECT_EQ(NearestName("rollbak", names), "rollback");
  EXPECT_EQ(NearestName("rnus", names), "runs");
  EXPECT_EQ(NearestName("relases", names), "releases");
  EXPECT_EQ(NearestName("bogus", names), "");
  EXPECT_EQ(NearestName("xyzzy", names), "");
  EXPECT_EQ(NearestName("rol", names), "rollback");  // the one name it begins
  EXPECT_EQ(NearestName("re", names), "releases");
  EXPECT_EQ(NearestName("r", names), "");  // begins four names
}

TEST_F(CliDocsTest, UnknownCommandNamesTheWordTheLevelAndTheNearest) {
  EXPECT_EQ(UnknownCommand(app_, Argc(), Argv({"tool", "get", "pipelnes"})),
            "unknown command \"pipelnes\" for \"tool get\" (did you mean \"pipelines\"?); "
            "commands: pipelines, runs");
  EXPECT_THAT(UnknownCommand(app_, Argc(), Argv({"tool", "rolback", "x/y"})),
              HasSubstr("(did you mean \"rollback\"?)"));
  // A flag's value is skipped, not taken for a command.
  EXPECT_THAT(UnknownCommand(app_, Argc(), Argv({"tool", "--server", "get", "bogus"})),
              HasSubstr("unknown command \"bogus\" for \"tool\""));
  EXPECT_EQ(UnknownCommand(app_, Argc(), Argv({"tool", "--server=a:1", "get", "runs", "shop"})),
            "");
  // A hidden command is not offered.
  EXPECT_EQ(UnknownCommand(app_, Argc(), Argv({"tool", "secrets"})),
            "unknown command \"secrets\" for \"tool\"; commands: get, rollback");
  // Arguments of a known leaf command are not commands.
  EXPECT_EQ(UnknownCommand(app_, Argc(), Argv({"tool", "rollback", "shop/prod", "--dry-run"})), "");
}

TEST_F(CliDocsTest, TheManPageHasEveryVisibleCommandItsOptionsAndExamplesEscaped) {
  std::string page = ManPage(app_, "tool", 1, {.exit_status = "2\tusage error\n"});
  EXPECT_THAT(page, HasSubstr(".TH TOOL 1"));
  EXPECT_THAT(page, HasSubstr(".SS \"tool get pipelines\""));
  EXPECT_THAT(page, HasSubstr(".SS \"tool rollback [OPTIONS] target\""));
  EXPECT_THAT(page, HasSubstr("\\fB\\-\\-dry\\-run\\fR"));
  EXPECT_THAT(page, HasSubstr("Change nothing \\- just show"));
  EXPECT_THAT(page, HasSubstr("slipway rollback shop/prod"));
  EXPECT_THAT(page, HasSubstr(".SH EXIT STATUS"));
  EXPECT_THAT(page, Not(HasSubstr("Hidden")));
  EXPECT_THAT(page, Not(HasSubstr("\\-\\-help")));
}

TEST_F(CliDocsTest, CompletionScriptsListCommandsAndFlagsPerCommand) {
  std::string bash = CompletionScript(app_, "tool", "bash");
  EXPECT_THAT(bash, HasSubstr("'get') echo 'pipelines runs' ;;"));
  EXPECT_THAT(bash, HasSubstr("'') echo 'get rollback' ;;"));
  // A command's own flags, then the global ones.
  EXPECT_THAT(bash, HasSubstr("'rollback') echo '--dry-run --server --no-color' ;;"));
  EXPECT_THAT(bash, HasSubstr("complete -o default -F _tool tool"));
  EXPECT_THAT(CompletionScript(app_, "tool", "zsh"), HasSubstr("#compdef tool"));
  EXPECT_THAT(CompletionScript(app_, "tool", "fish"), HasSubstr("complete -c tool"));
  EXPECT_EQ(CompletionScript(app_, "tool", "tcsh"), "");
}

}  // namespace
}  // namespace slipway

#include "common/cli_docs.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/version.h"

namespace slipway {
namespace {

bool Visible(const CLI::App* app) { return !app->get_group().empty(); }

std::vector<const CLI::App*> Commands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return Visible(sub); });
}

// Options as shown: hidden ones (empty group) left out, the help flag last.
std::vector<const CLI::Option*> Options(const CLI::App& app) {
  return app.get_options([](const CLI::Option* opt) {
    return !opt->get_group().empty() && !opt->get_positional() && opt->get_name() != "--help";
  });
}

std::vector<const CLI::Option*> Positionals(const CLI::App& app) {
  return app.get_options([](const CLI::Option* opt) { return opt->get_positional(); });
}

// Every visible command below `app`, depth first, with its words ("get pipeline").
void Walk(const CLI::App& app, const std::string& path,
          const std::function<void(const CLI::App&, const std::string&)>& fn) {
  for (const CLI::App* sub : Commands(app)) {
    std::string sub_path = path.empty() ? sub->get_name() : path + " " + sub->get_name();
    fn(*sub, sub_path);
    Walk(*sub, sub_path, fn);
  }
}

// Text safe in roff: backslashes, dashes, and a leading dot or quote.
std::string Roff(std::string_view text) {
  std::string out = absl::StrReplaceAll(absl::string_view(text.data(), text.size()),
                                        {{"\\", "\\e"}, {"-", "\\-"}});
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  for (std::string& line : lines) {
    if (!line.empty() && (line[0] == '.' || line[0] == '\'')) line.insert(0, "\\&");
  }
  return absl::StrJoin(lines, "\n");
}

std::string OptionSynopsis(const CLI::Option& opt) {
  std::string names;
  for (const std::string& s : opt.get_snames())
    absl::StrAppend(&names, names.empty() ? "" : ", ", "-", s);
  for (const std::string& l : opt.get_lnames()) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", "--", l);
  }
  std::string out = absl::StrCat("\\fB", Roff(names), "\\fR");
  if (opt.get_type_size() != 0) absl::StrAppend(&out, " \\fI", Roff(opt.get_type_name()), "\\fR");
  return out;
}

std::string Usage(const CLI::App& app, const std::string& prefix) {
  std::string out = prefix;
  if (!Options(app).empty()) absl::StrAppend(&out, " [OPTIONS]");
  for (const CLI::Option* pos : Positionals(app)) {
    absl::StrAppend(&out, pos->get_required() ? " " : " [", pos->get_name(true),
                    pos->get_required() ? "" : "]");
  }
  if (!Commands(app).empty()) absl::StrAppend(&out, " COMMAND");
  return out;
}

void AppendOptions(const CLI::App& app, std::string* out) {
  for (const CLI::Option* pos : Positionals(app)) {
    absl::StrAppend(out, ".TP\n\\fI", Roff(pos->get_name(true)), "\\fR\n",
                    Roff(pos->get_description()), "\n");
  }
  for (const CLI::Option* opt : Options(app)) {
    absl::StrAppend(out, ".TP\n", OptionSynopsis(*opt), "\n", Roff(opt->get_description()), "\n");
  }
}

void AppendTable(const char* heading, const std::string& rows, std::string* out) {
  if (rows.empty()) return;
  absl::StrAppend(out, ".SH ", heading, "\n");
  for (absl::string_view row : absl::StrSplit(rows, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cells = absl::StrSplit(row, absl::MaxSplits('\t', 1));
    absl::StrAppend(out, ".TP\n\\fB", Roff(cells[0]), "\\fR\n",
                    cells.size() > 1 ? Roff(cells[1]) : "", "\n");
  }
}

// The words a shell completes after `path`: its commands, then its flags (the root's global
// flags apply everywhere).
struct CompletionTable {
  std::map<std::string, std::vector<std::string>> commands;
  std::map<std::string, std::vector<std::string>> flags;
};

std::vector<std::string> FlagWords(const CLI::App& app) {
  std::vector<std::string> words;
  for (const CLI::Option* opt : Options(app)) {
    for (const std::string& l : opt->get_lnames()) words.push_back("--" + l);
    for (const std::string& s : opt->get_snames()) words.push_back("-" + s);
  }
  return words;
}

CompletionTable Table(const CLI::App& app) {
  CompletionTable t;
  std::vector<std::string> global = FlagWords(app);
  auto add = [&](const CLI::App& node, const std::string& path) {
    std::vector<std::string>& cmds = t.commands[path];
    for (const CLI::App* sub : Commands(node)) cmds.push_back(sub->get_name());
    std::vector<std::string> flags = FlagWords(node);
    if (&node != &app) flags.insert(flags.end(), global.begin(), global.end());
    std::set<std::string> seen;
    for (const std::string& f : flags) {
      if (seen.insert(f).second) t.flags[path].push_back(f);
    }
  };
  add(app, "");
  Walk(app, "", add);
  return t;
}

// A shell function `fn PATH` printing the words of PATH, one case per path.
std::string CaseFunction(const std::string& fn,
                         const std::map<std::string, std::vector<std::string>>& words, bool fish) {
  std::string out;
  if (fish) {
    absl::StrAppend(&out, "function ", fn, "\n  switch \"$argv[1]\"\n");
    for (const auto& [path, list] : words) {
      if (list.empty()) continue;
      absl::StrAppend(&out, "    case '", path, "'\n      printf '%s\\n' ",
                      absl::StrJoin(list, " "), "\n");
    }
    absl::StrAppend(&out, "  end\nend\n");
    return out;
  }
  absl::StrAppend(&out, fn, "() {\n  case \"$1\" in\n");
  for (const auto& [path, list] : words) {
    if (list.empty()) continue;
    absl::StrAppend(&out, "    '", path, "') echo '", absl::StrJoin(list, " "), "' ;;\n");
  }
  absl::StrAppend(&out, "  esac\n}\n");
  return out;
}

std::string Identifier(const std::string& name) {
  std::string id = name;
  std::replace(id.begin(), id.end(), '-', '_');
  return id;
}

// Edits between a and b: insertions, deletions, substitutions and swaps of neighbours
// ("rnus" is one edit from "runs").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (; app != nullptr; app = app->get_parent()) {
    if (const CLI::Option* opt = app->get_option_no_throw(name); opt != nullptr) return opt;
  }
  return nullptr;
}

}  // namespace

std::string ManPage(const CLI::App& app, const std::string& name, int section,
                    const ManExtras& extras) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  std::string out = absl::StrCat(".TH ", upper, " ", section, " \"\" \"", name, " ", Version(),
                                 "\" \"Slipway manual\"\n");
  absl::StrAppend(&out, ".SH NAME\n", Roff(name), " \\- ", Roff(app.get_description()), "\n");
  absl::StrAppend(&out, ".SH SYNOPSIS\n", Roff(Usage(app, name)), "\n");
  if (!app.get_footer().empty())
    absl::StrAppend(&out, ".SH DESCRIPTION\n", Roff(app.get_footer()), "\n");
  absl::StrAppend(&out, ".SH OPTIONS\n");
  AppendOptions(app, &out);
  if (!Commands(app).empty()) {
    absl::StrAppend(&out, ".SH COMMANDS\n");
    Walk(app, "", [&](const CLI::App& cmd, const std::string& path) {
      absl::StrAppend(&out, ".SS \"", Roff(Usage(cmd, name + " " + path)), "\"\n",
                      Roff(cmd.get_description()), "\n");
      AppendOptions(cmd, &out);
      if (!cmd.get_footer().empty()) {
        absl::StrAppend(&out, ".PP\n.nf\n", Roff(cmd.get_footer()), "\n.fi\n");
      }
    });
  }
  AppendTable("ENVIRONMENT", extras.environment, &out);
  AppendTable("FILES", extras.files, &out);
  AppendTable("EXIT STATUS", extras.exit_status, &out);
  return out;
}

std::string CompletionScript(const CLI::App& app, const std::string& name,
                             const std::string& shell) {
  CompletionTable t = Table(app);
  const std::string id = Identifier(name);
  const std::string cmds = "_" + id + "_commands";
  const std::string flags = "_" + id + "_flags";
  if (shell == "bash") {
    return absl::StrCat(
        "# bash completion for ", name, ", generated by `", name, " completion bash`.\n",
        CaseFunction(cmds, t.commands, false), CaseFunction(flags, t.flags, false), "_", id,
        "() {\n"
        "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmdpath=\"\" w i\n"
        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "    w=\"${COMP_WORDS[i]}\"\n"
        "    case \"$w\" in -*) continue ;; esac\n"
        "    case \" $(",
        cmds,
        " \"$cmdpath\") \" in *\" $w \"*) cmdpath=\"${cmdpath:+$cmdpath }$w\" ;; esac\n"
        "  done\n"
        "  if [[ \"$cur\" == -* ]]; then\n"
        "    COMPREPLY=($(compgen -W \"$(",
        flags,
        " \"$cmdpath\")\" -- \"$cur\"))\n"
        "  else\n"
        "    COMPREPLY=($(compgen -W \"$(",
        cmds,
        " \"$cmdpath\")\" -- \"$cur\"))\n"
        "  fi\n"
        "}\n"
        "complete -o default -F _",
        id, " ", name, "\n");
  }
  if (shell == "zsh") {
    return absl::StrCat(
        "#compdef ", name, "\n# zsh completion for ", name, ", generated by `", name,
        " completion zsh`.\n", CaseFunction(cmds, t.commands, false),
        CaseFunction(flags, t.flags, false), "_", id,
        "() {\n"
        "  local cmdpath=\"\" w i\n"
        "  for ((i = 2; i < CURRENT; i++)); do\n"
        "    w=\"${words[i]}\"\n"
        "    [[ \"$w\" == -* ]] && continue\n"
        "    [[ \" $(",
        cmds,
        " \"$cmdpath\") \" == *\" $w \"* ]] && cmdpath=\"${cmdpath:+$cmdpath }$w\"\n"
        "  done\n"
        "  if [[ \"${words[CURRENT]}\" == -* ]]; then\n"
        "    compadd -- ${=$(",
        flags,
        " \"$cmdpath\")}\n"
        "  else\n"
        "    compadd -- ${=$(",
        cmds,
        " \"$cmdpath\")}\n"
        "  fi\n"
        "}\n"
        "compdef _",
        id, " ", name, "\n");
  }
  if (shell == "fish") {
    return absl::StrCat("# fish completion for ", name, ", generated by `", name,
                        " completion fish`.\n",
                        CaseFunction("__" + id + "_commands", t.commands, true),
                        CaseFunction("__" + id + "_flags", t.flags, true), "function __", id,
                        "_path\n"
                        "  set -l words (commandline -opc)\n"
                        "  set -e words[1]\n"
                        "  set -l p ''\n"
                        "  for w in $words\n"
                        "    string match -q -- '-*' $w; and continue\n"
                        "    contains -- $w (__",
                        id,
                        "_commands \"$p\"); and set p (string trim -- \"$p $w\")\n"
                        "  end\n"
                        "  echo $p\n"
                        "end\n"
                        "complete -c ",
                        name, " -f -n 'not string match -q -- \"-*\" (commandline -ct)' -a '(__",
                        id, "_commands (__", id,
                        "_path))'\n"
                        "complete -c ",
                        name, " -f -n 'string match -q -- \"-*\" (commandline -ct)' -a '(__", id,
                        "_flags (__", id, "_path))'\n");
  }
  return "";
}

std::string NearestName(std::string_view word, const std::vector<std::string>& names) {
  std::string best;
  // Close enough to be a typo: one edit in a short word, two in a longer one.
  size_t best_distance = std::max<size_t>(1, word.size() / 3) + 1;
  std::vector<std::string> prefixed;
  for (const std::string& n : names) {
    size_t d = EditDistance(word, n);
    if (d < best_distance) {
      best_distance = d;
      best = n;
    }
    if (!word.empty() && n.rfind(word, 0) == 0) prefixed.push_back(n);
  }
  if (best.empty() && prefixed.size() == 1) best = prefixed[0];
  return best;
}

std::string UnknownCommand(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* current = &app;
  std::string path = app.get_name();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-') {
      if (arg.find('=') != std::string::npos) continue;
      const CLI::Option* opt = FindOption(current, arg);
      if (opt != nullptr && opt->get_type_size() != 0) ++i;  // its value
      continue;
    }
    std::vector<const CLI::App*> commands = Commands(*current);
    if (commands.empty()) return "";
    const CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (const CLI::App* sub : commands) {
      if (sub->check_name(arg)) next = sub;
      names.push_back(sub->get_name());
    }
    if (next == nullptr) {
      // A group that does not require a subcommand and takes arguments of its own reads this
      // word as one of them: not an unknown command.
      if (current->get_require_subcommand_min() == 0 && !Positionals(*current).empty()) return "";
      std::string msg = absl::StrCat("unknown command \"", arg, "\" for \"", path, "\"");
      std::string nearest = NearestName(arg, names);
      if (!nearest.empty()) absl::StrAppend(&msg, " (did you mean \"", nearest, "\"?)");
      absl::StrAppend(&msg, "; commands: ", absl::StrJoin(names, ", "));
      return msg;
    }
    current = next;
    path = absl::StrCat(path, " ", next->get_name());
  }
  return "";
}

}  // namespace slipway

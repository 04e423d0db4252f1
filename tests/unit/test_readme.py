"""Every command the README shows is run by the suite exactly as written."""

from __future__ import annotations

from harness.readme import BY_CI, NEWCOMER, README, REPO, make_recipe, make_stages, make_variable, readme_commands, suite_stages


def test_every_readme_command_is_run_by_the_suite():
    commands = readme_commands(README.read_text())
    assert commands, "no command found in README.md"
    unrun = [c for c in commands if c not in NEWCOMER + BY_CI]
    assert not unrun, f"README commands no test runs (add them to tests/harness/readme.py): {unrun}"
    gone = [c for c in NEWCOMER + BY_CI if c not in commands]
    assert not gone, f"tests/harness/readme.py lists commands the README no longer shows: {gone}"


def test_newcomer_commands_run_in_readme_order():
    commands = [c for c in readme_commands(README.read_text()) if c in NEWCOMER]
    assert tuple(dict.fromkeys(commands)) == NEWCOMER


def test_ci_commands_are_make_test_and_its_stages():
    makefile = (REPO / "Makefile").read_text()
    assert "make test" in (REPO / ".ci" / "run").read_text().splitlines()
    stages = make_stages(makefile)
    assert "scripts/suite.sh $(STAGES)" in make_recipe(makefile, "test")
    for command in BY_CI:
        targets = command.split()[1:]
        assert all(t in ("test", "check") or t in stages for t in targets), f"{command}: not `make test` or one of its stages {stages}"


def test_stages_side_by_side_share_no_files():
    """The packaging test builds into build/, which install-check reads."""
    groups = [set(word.split("+")) for word in make_variable((REPO / "Makefile").read_text(), "STAGES")]
    for apart in ({"integration", "build"}, {"build", "install-check"}):
        assert not any(apart <= group for group in groups), f"{sorted(apart)} must not run side by side"


def test_make_check_is_a_part_of_make_test():
    makefile = (REPO / "Makefile").read_text()
    stages = make_stages(makefile)
    check = suite_stages(make_recipe(makefile, "check").split("scripts/suite.sh", 1)[1].split())
    assert sorted(s for s in check if s not in ("check-sanity", "check-deploy")) == ["lint", "unit"] and "sanity" in stages
    assert set(make_variable(makefile, "CHECK_SANITY")) and "scripts/sanity.sh" in make_recipe(makefile, "check-sanity")
    deploy = make_variable(makefile, "CHECK_DEPLOY")
    assert len(deploy) == 1 and deploy[0].startswith("tests/integration/") and "integration" in stages
    test_file, name = deploy[0].split("::")
    assert f"def {name}(" in (REPO / test_file).read_text()


def test_the_parser_reads_fenced_blocks_and_table_rows():
    text = "\n".join([
        "```bash", "make demo    # a comment", "# only a comment", "", "ansible-playbook x.yml  -i inv", "```",
        "```yaml", "key: value", "```",
        "| command | does |", "| --- | --- |", "| `make lab-up` | starts |", "| `other` | no |",
        "    indented text", "plain `make inline` text",
    ])
    assert readme_commands(text) == ["make demo", "ansible-playbook x.yml  -i inv", "make lab-up"]

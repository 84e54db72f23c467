"""A record names the code it ran: the commit, and a digest of uncommitted package sources."""
import subprocess

from knewimp.harness import provenance
from knewimp.harness.provenance import from_uncommitted_code, git_commit, uncommitted_digest


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def checkout(tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "pkg" / "a.py").write_text("x = 1\n")
    (root / "docs" / "d.md").write_text("text\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    return root.resolve(), [(root / "pkg").resolve()]


def test_the_digest_names_the_uncommitted_package_sources_only(tmp_path):
    root, folders = checkout(tmp_path)
    assert uncommitted_digest(root, folders) is None
    (root / "docs" / "d.md").write_text("edited\n")          # not a package source
    assert uncommitted_digest(root, folders) is None
    (root / "pkg" / "a.py").write_text("x = 2\n")
    first = uncommitted_digest(root, folders)
    assert first is not None and len(first) == 12
    assert uncommitted_digest(root, folders) == first          # same code, same digest
    (root / "pkg" / "a.py").write_text("x = 3\n")
    assert uncommitted_digest(root, folders) not in (None, first)
    (root / "pkg" / "a.py").write_text("x = 1\n")              # back to the committed content
    assert uncommitted_digest(root, folders) is None
    (root / "pkg" / "new.py").write_text("y = 1\n")            # an untracked module is code too
    assert uncommitted_digest(root, folders) is not None


def test_a_record_says_whether_its_code_was_committed():
    commit = git_commit()
    assert commit == "unknown" or len(commit.split(provenance.DIRTY)[0]) == 40
    assert from_uncommitted_code("abc-dirty") and from_uncommitted_code("abc-dirty-0123456789ab")
    assert not from_uncommitted_code("abc") and not from_uncommitted_code(None)

"""Unpacking artifacts never writes outside the job's home, and packing outputs follows no link."""

import gzip
import io
import os
import tarfile
import zipfile

import pytest

from prominence.storage.unpack import UnpackError, make_tarball, unpack


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)


def entry(name, content=b"", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, content


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "sandbox" / "userhome"
    home.mkdir(parents=True)
    return home


def test_a_tarball_is_unpacked_in_place_and_removed(home):
    make_tar(home / "a.tgz", [entry("dir/x.txt", b"hello")])
    unpack(home / "a.tgz", home, 10**6)
    assert (home / "dir" / "x.txt").read_bytes() == b"hello"
    assert not (home / "a.tgz").exists()


@pytest.mark.parametrize(
    "members",
    [
        [entry("../escape.txt", b"x")],
        [entry("/tmp/escape.txt", b"x")],
        [entry("link", type=tarfile.SYMTYPE, linkname="/etc")],
        [entry("link", type=tarfile.SYMTYPE, linkname="../.."), entry("link/escape.txt", b"x")],
        [entry("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
        [entry("dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
    ],
)
def test_members_leaving_the_home_are_refused(home, members):
    make_tar(home / "bad.tgz", members)
    with pytest.raises(UnpackError):
        unpack(home / "bad.tgz", home, 10**6)
    assert not (home.parent / "escape.txt").exists()
    assert sorted(os.listdir(home.parent)) == ["userhome"]


def test_a_link_left_by_an_earlier_archive_is_not_followed_out(home):
    (home / "inner").mkdir()
    make_tar(home / "a.tgz", [entry("up", type=tarfile.SYMTYPE, linkname="inner")])
    unpack(home / "a.tgz", home, 10**6)
    os.unlink(home / "up")
    os.symlink("..", home / "up")  # as if a task had made it
    make_tar(home / "b.tgz", [entry("up/escape.txt", b"x")])
    with pytest.raises(UnpackError):
        unpack(home / "b.tgz", home, 10**6)
    assert not (home.parent / "escape.txt").exists()


def test_zip_names_are_checked_and_sizes_bounded(home):
    with zipfile.ZipFile(home / "bad.zip", "w") as zf:
        zf.writestr("../escape.txt", b"x")
    with pytest.raises(UnpackError):
        unpack(home / "bad.zip", home, 10**6)
    with zipfile.ZipFile(home / "big.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 2_000_000)
    with pytest.raises(UnpackError):
        unpack(home / "big.zip", home, 1_000_000)
    with zipfile.ZipFile(home / "ok.zip", "w") as zf:
        zf.writestr("d/ok.txt", b"fine")
    unpack(home / "ok.zip", home, 10**6)
    assert (home / "d" / "ok.txt").read_bytes() == b"fine"


def test_a_gzip_bomb_stops_at_the_limit(home):
    (home / "bomb.gz").write_bytes(gzip.compress(b"\0" * 3_000_000))
    with pytest.raises(UnpackError):
        unpack(home / "bomb.gz", home, 1_000_000)


def test_corrupt_archives_fail(home):
    (home / "broken.tgz").write_bytes(b"not a gzip file")
    with pytest.raises(UnpackError):
        unpack(home / "broken.tgz", home, 10**6)


def test_output_tarballs_keep_links_as_links(home, tmp_path):
    (home / "out").mkdir()
    (home / "out" / "a.txt").write_text("a")
    os.symlink("/etc/hostname", home / "out" / "host")
    make_tarball(home, "out", tmp_path / "out.tgz")
    with tarfile.open(tmp_path / "out.tgz") as tar:
        assert tar.getmember("out/host").issym()
        assert tar.extractfile("out/a.txt").read() == b"a"

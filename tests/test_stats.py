"""The stats reader against a Dummy qBittorrent Web API on a real socket.

Session reuse, a new login on 403, the ``rid`` of the incremental feed,
the states of qBittorrent 4.x and 5.x, one shared read for many callers,
and the 9971 answers. The real qBittorrent is in test_e2e_stats.py.
"""
from __future__ import annotations

import threading

import pytest

from plugin.errors import Err, FsiError
from plugin.qbt_webapi import WebApiClient, WebApiTarget
from plugin.stats import SAVE_PATH_MAX_AGE, TransferStats
from tests.dummy_webapi import DummyWebApi
from tests.stack import free_port, wait_for

COUNTS_NONE = {"total": 0, "downloading": 0, "seeding": 0, "paused": 0, "stalled": 0,
               "checking": 0, "queued": 0, "error": 0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api():
    running = DummyWebApi()
    yield running
    running.close()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def stats(clock):
    reader = TransferStats(WebApiClient(timeout=5), clock=clock)
    yield reader
    reader.client.close()


def target_of(api: DummyWebApi, pid: int = 4242, password: str | None = None) -> WebApiTarget:
    return WebApiTarget(api.port, pid, api.username,
                        api.password if password is None else password)


def read(stats: TransferStats, target: WebApiTarget) -> dict:
    return stats.read(target.port, target.pid, lambda: (target.username, target.password))


def read_fresh(stats: TransferStats, clock: FakeClock, target: WebApiTarget) -> dict:
    """One read past the shared answer's age: a new call to the Web API."""
    clock.now += 5
    return read(stats, target)


def offline(action) -> FsiError:
    with pytest.raises(FsiError) as caught:
        action()
    assert caught.value.code == Err.OFFLINE
    return caught.value


def test_the_figures_are_qbittorrents_own(api, stats):
    api.server_state.update(dl_info_speed=2048, up_info_speed=512, dl_info_data=10 ** 9,
                            up_info_data=3 * 10 ** 8, dht_nodes=17,
                            connection_status="connected")
    api.add("a" * 40, "downloading")
    assert read(stats, target_of(api)) == {
        "download_speed": 2048, "upload_speed": 512, "downloaded": 10 ** 9,
        "uploaded": 3 * 10 ** 8, "torrents": {**COUNTS_NONE, "total": 1, "downloading": 1},
        "free_space": 5_000_000_000, "save_path": "/srv/downloads",
        "connection_status": "connected", "dht_nodes": 17}


def test_one_login_and_one_connection_serve_many_reads(api, stats, clock):
    for _ in range(3):
        read_fresh(stats, clock, target_of(api))
    assert api.logins == 1
    maindata = [request for request in api.requests if request[0] == "/api/v2/sync/maindata"]
    assert len(maindata) == 3
    assert len({sid for _, sid, _ in maindata}) == 1
    assert len({port for _, _, port in api.requests}) == 1  # one kept-alive connection


def test_an_expired_session_logs_in_again_and_the_read_goes_on(api, stats, clock):
    api.add("a" * 40, "pausedDL")
    read_fresh(stats, clock, target_of(api))
    api.expire_sessions()
    assert read_fresh(stats, clock, target_of(api))["torrents"]["paused"] == 1
    assert api.logins == 2
    paths = [path for path, _, _ in api.requests]
    assert paths[-4:-1] == ["/api/v2/sync/maindata", "/api/v2/auth/login",
                            "/api/v2/sync/maindata"]


def test_a_connection_qbittorrent_closed_is_opened_again(api, stats, clock):
    api.drop_connections = True
    for _ in range(3):
        assert read_fresh(stats, clock, target_of(api))["save_path"] == "/srv/downloads"
    assert api.logins == 1 and api.maindata_calls == 3


def test_rid_is_sent_back_and_changes_fold_into_the_counts(api, stats, clock):
    for index, state in enumerate(["pausedDL", "pausedDL", "stalledDL", "uploading"]):
        api.add(str(index) * 40, state)
    first = read_fresh(stats, clock, target_of(api))["torrents"]
    assert first == {**COUNTS_NONE, "total": 4, "paused": 2, "stalled": 1, "seeding": 1}
    api.torrents["0" * 40]["state"] = "downloading"  # resumed
    del api.torrents["3" * 40]                       # removed
    api.add("4" * 40, "queuedDL")                    # added
    api.server_state["dl_info_speed"] = 100
    second = read_fresh(stats, clock, target_of(api))
    assert second["torrents"] == {**COUNTS_NONE, "total": 4, "paused": 1, "stalled": 1,
                                  "downloading": 1, "queued": 1}
    assert second["download_speed"] == 100
    unchanged = read_fresh(stats, clock, target_of(api))
    assert unchanged["torrents"] == second["torrents"]
    assert api.rids == [0, 1, 2]


def test_a_new_session_starts_over_from_a_full_update(api, stats, clock):
    api.add("a" * 40, "pausedUP")
    api.add("b" * 40, "pausedUP")
    read_fresh(stats, clock, target_of(api))
    api.expire_sessions()
    del api.torrents["b" * 40]
    counts = read_fresh(stats, clock, target_of(api))["torrents"]
    assert counts == {**COUNTS_NONE, "total": 1, "paused": 1}


@pytest.mark.parametrize("states, counts", [
    # qBittorrent 4.x
    (["pausedUP", "pausedDL"], {"paused": 2}),
    # qBittorrent 5.x renamed paused to stopped
    (["stoppedUP", "stoppedDL"], {"paused": 2}),
    (["downloading", "forcedDL", "metaDL", "forcedMetaDL", "allocating"], {"downloading": 5}),
    (["uploading", "forcedUP"], {"seeding": 2}),
    (["stalledUP", "stalledDL"], {"stalled": 2}),
    (["checkingUP", "checkingDL", "checkingResumeData"], {"checking": 3}),
    (["queuedUP", "queuedDL"], {"queued": 2}),
    (["error", "missingFiles"], {"error": 2}),
    (["moving", "unknown", "a state of a later version"], {}),
])
def test_states_of_qbittorrent_4_and_5_count_alike(api, stats, states, counts):
    for index, state in enumerate(states):
        api.add("%040x" % index, state)
    assert read(stats, target_of(api))["torrents"] == {**COUNTS_NONE, "total": len(states),
                                                      **counts}


def test_callers_within_a_second_share_one_read(api, stats, clock):
    first = read(stats, target_of(api))
    clock.now += 0.9
    assert read(stats, target_of(api)) == first
    assert api.maindata_calls == 1
    clock.now += 0.1
    read(stats, target_of(api))
    assert api.maindata_calls == 2


def test_a_shared_answer_reads_no_credentials(api, stats):
    logins_read = []

    def login() -> tuple[str, str]:
        logins_read.append(1)
        return api.username, api.password

    for _ in range(3):
        stats.read(api.port, 4242, login)
    assert len(logins_read) == 1


def test_callers_during_a_read_wait_for_it_however_long_it_takes(api, stats, clock):
    release = threading.Event()

    def slow_qbittorrent() -> None:
        release.wait(30)
        clock.now += 10  # the answer is old by the time it comes

    api.before_maindata = slow_qbittorrent
    api.add("a" * 40, "stalledUP")
    answers: list[dict] = []
    callers = [threading.Thread(target=lambda: answers.append(read(stats, target_of(api))))
               for _ in range(5)]
    for caller in callers:
        caller.start()
    try:
        assert wait_for(lambda: stats._shared._last is not None
                        and stats._shared._last.callers == 5, timeout=10)
    finally:
        release.set()
        for caller in callers:
            caller.join(30)
    assert len(answers) == 5 and all(answer == answers[0] for answer in answers)
    assert answers[0]["torrents"]["stalled"] == 1
    assert api.maindata_calls == 1


def test_each_caller_gets_its_own_copy(api, stats):
    read(stats, target_of(api))["torrents"]["total"] = 99
    assert read(stats, target_of(api))["torrents"]["total"] == 0


def test_another_process_is_never_served_an_answer_of_the_last_one(api, stats):
    read(stats, target_of(api, pid=1))
    read(stats, target_of(api, pid=2))
    assert api.maindata_calls == 2


def test_a_web_api_that_does_not_answer_is_9971(stats):
    error = offline(lambda: read(stats, WebApiTarget(free_port(), 4242, "admin", "x")))
    assert "does not answer" in error.msg


def test_refused_credentials_are_9971_and_not_tried_again_on_the_same_process(api, stats,
                                                                               clock):
    error = offline(lambda: read_fresh(stats, clock, target_of(api, password="changed")))
    assert "refused the plugin's Web UI credentials" in error.msg
    offline(lambda: read_fresh(stats, clock, target_of(api, password="changed")))
    assert api.logins == 1  # qBittorrent bans an address after a few failed logins
    # A restarted qBittorrent (the plugin writes its credentials before a start) is asked again.
    read_fresh(stats, clock, target_of(api, pid=4243))
    assert api.logins == 2


def test_a_refusal_is_shared_like_an_answer(api, stats):
    for _ in range(3):
        offline(lambda: read(stats, target_of(api, password="changed")))
    assert api.logins == 1


def test_a_banned_address_is_9971_saying_so(api, stats, clock):
    api.banned = True
    error = offline(lambda: read_fresh(stats, clock, target_of(api)))
    assert "refuses logins from 127.0.0.1" in error.msg and "banned" in error.msg
    api.banned = False  # the ban ended: asked again
    assert read_fresh(stats, clock, target_of(api))["save_path"] == "/srv/downloads"


def test_an_answer_that_is_not_maindata_is_9971_and_the_next_read_starts_over(api, stats,
                                                                             clock):
    api.server_state.pop("dht_nodes")
    error = offline(lambda: read_fresh(stats, clock, target_of(api)))
    assert "sync/maindata" in error.msg
    api.server_state["dht_nodes"] = 3
    assert read_fresh(stats, clock, target_of(api))["dht_nodes"] == 3
    assert api.rids == [0, 0]


def test_the_save_path_is_read_again_when_the_free_space_changes(api, stats, clock):
    read_fresh(stats, clock, target_of(api))
    read_fresh(stats, clock, target_of(api))
    api.save_path = "/mnt/big"
    api.server_state["free_space_on_disk"] = 9_000_000_000_000
    answer = read_fresh(stats, clock, target_of(api))
    assert (answer["save_path"], answer["free_space"]) == ("/mnt/big", 9_000_000_000_000)
    saves = [path for path, _, _ in api.requests if path == "/api/v2/app/defaultSavePath"]
    assert len(saves) == 2


def test_a_new_save_path_shows_within_its_max_age_even_on_the_same_free_space(api, stats,
                                                                            clock):
    read(stats, target_of(api))
    api.save_path = "/srv/elsewhere"
    clock.now += 1
    assert read(stats, target_of(api))["save_path"] == "/srv/downloads"
    clock.now += SAVE_PATH_MAX_AGE
    assert read(stats, target_of(api))["save_path"] == "/srv/elsewhere"


def test_free_space_qbittorrent_cannot_tell_is_null(api, stats):
    api.server_state["free_space_on_disk"] = -1
    assert read(stats, target_of(api))["free_space"] is None


def status_of(running: bool, port: int | None) -> dict:
    return {"running": running, "pid": 4242 if running else None, "port": port}


def test_a_stopped_qbittorrent_has_no_figures_and_is_not_asked(stats):
    assert stats.of_status(status_of(False, None), lambda: pytest.fail("asked")) == \
        {"running": False}


def test_a_running_qbittorrent_adds_its_figures_to_running(api, stats):
    target = target_of(api)
    answer = stats.of_status(status_of(True, api.port), lambda: (api.username, api.password))
    assert answer == {"running": True, **read(stats, target)}


@pytest.mark.parametrize("port", [None, "silent"])
def test_a_running_qbittorrent_without_figures_is_9971_saying_it_runs(stats, port):
    status = status_of(True, free_port() if port else None)
    with pytest.raises(FsiError) as raised:
        stats.of_status(status, lambda: ("admin", "secret"))
    assert (raised.value.code, raised.value.results) == (Err.OFFLINE, {"running": True})

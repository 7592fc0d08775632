import pytest
from django.core.cache import cache as django_cache

from companies import cache, services
from companies.models import Channel
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory


@pytest.mark.django_db
def test_company_lookup_is_served_from_the_cache(django_assert_num_queries):
    company = CompanyFactory()
    assert cache.get_company_by_contract(company.contract).pk == company.pk
    with django_assert_num_queries(0):
        assert cache.get_company_by_contract(str(company.contract).upper()).pk == company.pk


@pytest.mark.django_db
def test_a_changed_company_is_seen_at_once(django_capture_on_commit_callbacks):
    company = CompanyFactory(name="Old name", support_phone="1111")
    channel = CloudChannelFactory(company=company)
    assert cache.get_company_by_contract(company.contract).name == "Old name"
    assert cache.get_channel_by_phone_number_id(channel.phone_number_id).company.name == "Old name"

    with django_capture_on_commit_callbacks(execute=True):
        services.update_company(company=company, data={"name": "New name", "support_phone": "2222"})

    fresh = cache.get_company_by_contract(company.contract)
    assert (fresh.name, fresh.support_phone) == ("New name", "2222")
    assert cache.get_channel_by_phone_number_id(channel.phone_number_id).company.name == "New name"


@pytest.mark.django_db
def test_a_changed_company_is_seen_at_once_through_the_api(staff_client):
    company = CompanyFactory(status="active")
    assert cache.get_company_by_contract(company.contract).is_active
    response = staff_client.patch(f"/api/v1/companies/{company.contract}/", {"status": "inactive"}, format="json")
    assert response.status_code == 200
    assert not cache.get_company_by_contract(company.contract).is_active


@pytest.mark.django_db
def test_a_moved_phone_number_id_stops_resolving_to_the_old_value():
    channel = CloudChannelFactory(phone_number_id="111")
    assert cache.get_channel_by_phone_number_id("111").pk == channel.pk
    services.update_channel(channel=channel, data={"phone_number_id": "222"})
    assert cache.get_channel_by_phone_number_id("111") is None
    assert cache.get_channel_by_phone_number_id("222").pk == channel.pk


@pytest.mark.django_db
def test_a_new_company_replaces_a_cached_miss():
    contract = "0b9d6a8e-3f1c-4c5e-9d2a-6a1e2b3c4d5e"
    assert cache.get_company_by_contract(contract) is None
    company = CompanyFactory(contract=contract)
    assert cache.get_company_by_contract(contract).pk == company.pk


@pytest.mark.django_db
def test_deleted_company_and_channels_stop_resolving():
    channel = EvolutionChannelFactory(instance_name="acme")
    contract = channel.company.contract
    assert cache.get_channel_by_instance("acme").pk == channel.pk
    assert cache.get_company_by_contract(contract) is not None
    services.delete_company(company=channel.company)
    assert cache.get_channel_by_instance("acme") is None
    assert cache.get_company_by_contract(contract) is None


@pytest.mark.django_db
def test_instance_lookup_only_finds_evolution_channels():
    CloudChannelFactory(instance_name="shared-name")
    assert cache.get_channel_by_instance("shared-name") is None
    channel = EvolutionChannelFactory(instance_name="shared-name")
    assert cache.get_channel_by_instance("shared-name").kind == Channel.Kind.EVOLUTION
    assert cache.get_channel_by_instance("shared-name").pk == channel.pk


@pytest.mark.django_db
def test_cached_entries_do_not_hold_secrets_in_plaintext():
    channel = CloudChannelFactory(access_token="EAAGplaintextNeverInRedis")
    cache.get_channel_by_phone_number_id(channel.phone_number_id)
    blob = django_cache.get(cache.phone_number_id_key(channel.phone_number_id))
    assert isinstance(blob, bytes)
    assert b"EAAGplaintextNeverInRedis" not in blob
    assert cache.get_channel_by_phone_number_id(channel.phone_number_id).access_token == "EAAGplaintextNeverInRedis"


@pytest.mark.django_db
def test_a_value_that_is_not_a_uuid_finds_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert cache.get_company_by_contract("not-a-uuid") is None


@pytest.mark.django_db
def test_a_value_holding_a_nul_finds_nothing_without_a_query(django_assert_num_queries):
    # PostgreSQL cannot compare text with a NUL: the query would fail (a 503 in a webhook), not miss.
    with django_assert_num_queries(0):
        assert cache.get_channel_by_phone_number_id("1065\x00") is None
        assert cache.get_channel_by_instance("isp\x00") is None


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["isp main", "isp\tmain", "i" * 100, "provedor-são-joão", "isp:main/1"])
def test_any_instance_name_is_cached_under_a_key_every_backend_takes(name):
    # Django warns about keys memcached would refuse (spaces, control characters, over 250 characters);
    # the tests turn the warning into an error, so a plain lookup proves the key is fit.
    channel = EvolutionChannelFactory(instance_name=name)
    assert cache.get_channel_by_instance(name).pk == channel.pk
    assert cache.get_channel_by_instance(name).pk == channel.pk  # from the cache
    assert cache.instance_key(name) in cache.keys_for_channel(channel)


@pytest.fixture
def local_copies(settings):
    settings.COMPANY_LOCAL_CACHE_SECONDS = 2.0
    return cache.local_copies


@pytest.mark.django_db
def test_a_process_keeps_its_reads_briefly_and_skips_the_shared_cache(local_copies, monkeypatch):
    company = CompanyFactory()
    assert cache.get_company_by_contract(company.contract).pk == company.pk
    reads = []

    class CountingCache:
        def get(self, *args, **kwargs):
            reads.append(args)
            return django_cache.get(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(django_cache, name)

    monkeypatch.setattr(cache, "cache", CountingCache())
    first = cache.get_company_by_contract(company.contract)
    second = cache.get_company_by_contract(company.contract)
    assert reads == []
    assert first.pk == second.pk == company.pk
    assert first is not second  # each caller gets its own instance to change


@pytest.mark.django_db
def test_a_change_is_seen_at_once_here_and_within_the_local_seconds_elsewhere(
    local_copies, monkeypatch, django_capture_on_commit_callbacks
):
    company = CompanyFactory(name="Old name")
    assert cache.get_company_by_contract(company.contract).name == "Old name"
    with django_capture_on_commit_callbacks(execute=True):
        services.update_company(company=company, data={"name": "New name"})
    assert cache.get_company_by_contract(company.contract).name == "New name"  # this process: at once

    # Another process changed it: the shared key is gone, this process's copy lives out its seconds.
    type(company).objects.filter(pk=company.pk).update(name="Newest name")
    django_cache.delete(cache.contract_key(company.contract))
    assert cache.get_company_by_contract(company.contract).name == "New name"
    now = cache.time.monotonic()
    monkeypatch.setattr(cache.time, "monotonic", lambda: now + 2.5)
    assert cache.get_company_by_contract(company.contract).name == "Newest name"


def test_local_copies_are_bounded(local_copies, monkeypatch):
    monkeypatch.setattr(cache, "_LOCAL_MAX_ENTRIES", 3)
    for index in range(5):
        local_copies.set(f"key-{index}", b"x")
    assert local_copies.get("key-0") is None  # a flood of distinct keys empties the table, never grows it
    assert local_copies.get("key-4") == b"x"


def test_local_copies_are_off_when_the_cache_is_this_process_memory(settings):
    settings.COMPANY_LOCAL_CACHE_SECONDS = 0
    cache.local_copies.set("key", b"x")
    assert cache.local_copies.get("key") is None


@pytest.fixture
def shared_cache(settings):
    settings.CACHE_IS_SHARED, settings.COMPANY_LOCAL_CACHE_SECONDS = True, 2.0
    cache.local_copies.clear()
    yield
    cache.local_copies.clear()


@pytest.mark.django_db
def test_local_only_lookups_never_leave_the_process(shared_cache, django_assert_num_queries, monkeypatch):
    company = CompanyFactory()
    channel = CloudChannelFactory(company=company, phone_number_id="5511")
    with django_assert_num_queries(0), cache.local_only():
        with pytest.raises(cache.NotCachedLocally):
            cache.get_company_by_contract(company.contract)  # only in Redis (here: its stand-in) or the database
        with pytest.raises(cache.NotCachedLocally):
            cache.get_channel_by_phone_number_id("5511")
    assert cache.get_channel_by_phone_number_id("5511").pk == channel.pk  # outside: fetched, kept locally
    monkeypatch.setattr(cache, "cache", None)  # any use of the shared cache would fail
    with django_assert_num_queries(0), cache.local_only():
        assert cache.get_channel_by_phone_number_id("5511").company_id == company.pk
        assert cache.get_channel_by_phone_number_id("5511") is cache.get_channel_by_phone_number_id("5511")
        with pytest.raises(cache.NotCachedLocally):
            cache.needs_database()
    cache.needs_database()  # outside the block a query is fine


@pytest.mark.django_db
def test_a_local_only_miss_for_an_unknown_key_is_remembered_as_a_miss(shared_cache):
    assert cache.get_channel_by_phone_number_id("404404") is None
    with cache.local_only():
        assert cache.get_channel_by_phone_number_id("404404") is None


@pytest.mark.django_db
def test_a_change_replaces_the_shared_local_instance(shared_cache, django_capture_on_commit_callbacks):
    company = CompanyFactory(name="Old name")
    cache.get_company_by_contract(company.contract)
    with cache.local_only():
        assert cache.get_company_by_contract(company.contract).name == "Old name"
    with django_capture_on_commit_callbacks(execute=True):
        services.update_company(company=company, data={"name": "New name"})
    with pytest.raises(cache.NotCachedLocally), cache.local_only():
        cache.get_company_by_contract(company.contract)  # dropped here at once, like the pickle
    cache.get_company_by_contract(company.contract)
    with cache.local_only():
        assert cache.get_company_by_contract(company.contract).name == "New name"


@pytest.mark.django_db
def test_without_a_shared_cache_local_only_reads_the_process_cache(settings, django_assert_num_queries):
    settings.CACHE_IS_SHARED, settings.COMPANY_LOCAL_CACHE_SECONDS = False, 0
    company = CompanyFactory()
    cache.get_company_by_contract(company.contract)
    with django_assert_num_queries(0), cache.local_only():
        assert cache.get_company_by_contract(company.contract).pk == company.pk

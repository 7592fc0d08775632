"""Cache invalidation for company lookups (the only thing signals do here).

Keys are dropped for the values before *and* after a change (a phone_number_id that moved must stop
resolving at once), immediately and again on commit: a request that read the old row while the
transaction was open could have cached it in between.
"""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from companies import cache
from companies.models import Channel, Company


@receiver(pre_save, sender=Company)
def _company_keys_before(sender, instance: Company, **kwargs) -> None:
    previous = Company.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._cache_keys_before = cache.keys_for_company(previous) if previous else set()


@receiver(pre_save, sender=Channel)
def _channel_keys_before(sender, instance: Channel, **kwargs) -> None:
    previous = Channel.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._cache_keys_before = cache.keys_for_channel(previous) if previous else set()


@receiver(post_save, sender=Company)
def _company_saved(sender, instance: Company, **kwargs) -> None:
    # Channel lookups carry their company, so the company's channels are dropped too.
    keys = cache.keys_for_company(instance, instance.channels.all())
    cache.forget_now_and_on_commit(keys | getattr(instance, "_cache_keys_before", set()))


@receiver(post_save, sender=Channel)
def _channel_saved(sender, instance: Channel, **kwargs) -> None:
    cache.forget_now_and_on_commit(cache.keys_for_channel(instance) | getattr(instance, "_cache_keys_before", set()))


@receiver(post_delete, sender=Company)
def _company_deleted(sender, instance: Company, **kwargs) -> None:
    cache.forget_now_and_on_commit(cache.keys_for_company(instance))


@receiver(post_delete, sender=Channel)
def _channel_deleted(sender, instance: Channel, **kwargs) -> None:
    cache.forget_now_and_on_commit(cache.keys_for_channel(instance))

"""factory_boy factories for the models tests need."""

import factory
from django.contrib.auth import get_user_model

from companies.models import Channel, Company


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Provedor {n}")
    support_phone = "(44) 98888-8888"
    meta_app_secret = factory.Sequence(lambda n: f"app-secret-{n}")
    meta_verify_token = factory.Sequence(lambda n: f"verify-token-{n}")


class CloudChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    company = factory.SubFactory(CompanyFactory)
    kind = Channel.Kind.CLOUD
    name = "Atendimento"
    display_number = "+55 44 3030-0000"
    phone_number_id = factory.Sequence(lambda n: f"10654035224{n:04d}")
    waba_id = factory.Sequence(lambda n: f"10229012934{n:04d}")
    access_token = factory.Sequence(lambda n: f"EAAGtesttoken{n:020d}")


class EvolutionChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    company = factory.SubFactory(CompanyFactory)
    kind = Channel.Kind.EVOLUTION
    name = "Cobrança"
    api_base_url = "https://evo.example.com"
    api_key = factory.Sequence(lambda n: f"evolution-key-{n}")
    instance_name = factory.Sequence(lambda n: f"instance-{n}")


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

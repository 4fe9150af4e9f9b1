"""myproject/broker.py: kombu's Redis transport, with one publishing client per channel."""

from kombu import Connection, Exchange, Queue

from myproject import celery_app
from myproject.broker import Channel, Transport


def test_the_platform_publishes_through_its_transport():
    with celery_app.connection_for_write() as connection:
        assert connection.transport_cls is Transport or isinstance(connection.transport, Transport)


def test_a_channel_keeps_one_publishing_client_and_messages_still_arrive(redis_server, settings):
    queue = Queue("broker-test", Exchange("broker-test"), routing_key="broker-test")
    with Connection(settings.REDIS_URL, transport="myproject.broker:Transport") as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        producer = connection.Producer(serializer="json")
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="broker-test", declare=[queue])
        assert channel._create_client() is channel._create_client()
        received = []
        with connection.SimpleQueue(queue) as simple:
            for _ in range(3):
                message = simple.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
    assert received == [0, 1, 2]

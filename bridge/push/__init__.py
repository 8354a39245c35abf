"""Push notifications: devices, the outbox, the FCM sender and the delivery worker."""

<?php
// symfony_send.php: one message with Symfony Mailer's SendmailTransport in its default
// mode, "sendmail -bs" (SMTP over the child's stdin/stdout), from Debian's
// php-symfony-mailer. Usage: php symfony_send.php SENDMAIL FROM TO BCC TOKEN
require_once 'Symfony/Component/Mailer/autoload.php';

use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Email;

[, $sendmail, $from, $to, $bcc, $token] = $argv;
// The transport's default command is "/usr/sbin/sendmail -bs": the same with our binary.
$transport = new SendmailTransport($sendmail . ' -bs');
$email = (new Email())
    ->from($from)
    ->to($to)
    ->bcc($bcc)
    ->subject("Symfony ✓ $token")
    ->text("Grüße from Symfony Mailer\n");
(new Mailer($transport))->send($email);
echo "sent\n";

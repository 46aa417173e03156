# hamlet: at delivery, mail that hamlet tagged as spam (the header
# "X-Spam: Yes" that hamlet, like rspamd, adds for the "add header"
# action) is filed into the user's Junk folder, created when missing.
# Run before the user's own Sieve script (sieve_before in
# 90-hamlet-learn.conf), by LMTP or dovecot-lda.
require ["fileinto", "mailbox"];

if header :is "X-Spam" "Yes" {
  fileinto :create "Junk";
  stop;
}

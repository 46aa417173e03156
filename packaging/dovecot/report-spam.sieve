# hamlet: a message copied or moved into Junk is learned as spam.
# Run by Dovecot's IMAPSieve (imapsieve_mailbox1_before in
# 90-hamlet-learn.conf); hamlet-learn sends it to hamlet's controller
# (POST /learnspam, as rspamc learn_spam does).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.user" "*" {
  set "username" "${1}";
}

pipe :copy "hamlet-learn" ["spam", "${username}"];

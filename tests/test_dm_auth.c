/* OMA DM authentication (dm_auth.h): the spec's auth-md5 vector, basic,
 * HMAC-MD5 header, credential checks both ways, base64 and nonces. */
#include <criterion/criterion.h>
#include <string.h>

#include <updelta/dm_auth.h>

Test(dm_auth, basic_vector, .description = "Bruce2:OhBehave -> QnJ1Y2UyOk9oQmVoYXZl")
{
    char out[64];
    cr_assert_eq(upd_dm_auth_basic("Bruce2", "OhBehave", out, sizeof out), 20);
    cr_expect_str_eq(out, "QnJ1Y2UyOk9oQmVoYXZl");
    cr_expect_eq(upd_dm_auth_basic("Bruce2", "OhBehave", out, 20), UPD_E_INVAL, "no room for the NUL");
}

Test(dm_auth, md5_spec_vector, .description = "DM 1.2 Security: Bruce2 / OhBehave / Nonce -> Zz6EivR3yeaaENcRN6lpAQ==")
{
    char out[UPD_DM_B64_MD5_LEN];
    cr_assert_eq(upd_dm_auth_md5("Bruce2", "OhBehave", "Nonce", 5, out), 0);
    cr_expect_str_eq(out, "Zz6EivR3yeaaENcRN6lpAQ==");
    cr_assert_eq(upd_dm_auth_md5("Bruce2", "OhBehave", "Nonce", 4, out), 0);
    cr_expect_str_neq(out, "Zz6EivR3yeaaENcRN6lpAQ==", "the nonce is part of the digest");
}

Test(dm_auth, hmac_vector_and_header, .description = "x-syncml-hmac over a body: reference vector, header text, verify")
{
    const char body[] = "<SyncML xmlns=\"SYNCML:SYNCML1.2\"></SyncML>";
    char mac[UPD_DM_B64_MD5_LEN];
    cr_assert_eq(upd_dm_hmac_mac("Bruce2", "OhBehave", "Nonce", 5, body, sizeof body - 1, mac), 0);
    cr_expect_str_eq(mac, "aSBvnDHzBa7JhdjeEEUR2g==");
    char hdr[160];
    int n = upd_dm_hmac_header("Bruce2", "OhBehave", "Nonce", 5, body, sizeof body - 1, hdr, sizeof hdr);
    cr_assert_gt(n, 0);
    cr_expect_str_eq(hdr, "algorithm=MD5, username=\"Bruce2\", mac=aSBvnDHzBa7JhdjeEEUR2g==");
    cr_expect_eq(upd_dm_hmac_verify(hdr, "Bruce2", "OhBehave", "Nonce", 5, body, sizeof body - 1), 0);
    cr_expect_eq(upd_dm_hmac_verify(hdr, "Bruce2", "OhBehave", "Nonce", 5, body, sizeof body - 2),
                 UPD_E_DM_AUTH, "a changed body fails");
    cr_expect_eq(upd_dm_hmac_verify(hdr, "Bruce2", "wrong", "Nonce", 5, body, sizeof body - 1),
                 UPD_E_DM_AUTH, "a wrong password fails");
    cr_expect_eq(upd_dm_hmac_verify(hdr, "Other", "OhBehave", "Nonce", 5, body, sizeof body - 1),
                 UPD_E_DM_AUTH, "another user fails");
    cr_expect_eq(upd_dm_hmac_verify(hdr, "Bruce2", "OhBehave", "Nonc3", 5, body, sizeof body - 1),
                 UPD_E_DM_AUTH, "a stale nonce fails");
    cr_expect_eq(upd_dm_hmac_header("a\"b", "p", NULL, 0, "", 0, hdr, sizeof hdr), UPD_E_INVAL);
}

Test(dm_auth, hmac_header_parsing, .description = "parameters in any order, quoted or not; malformed refused")
{
    char user[32], mac[32];
    cr_assert_eq(upd_dm_hmac_parse(" mac=abc== ,username=u1,algorithm=MD5", user, sizeof user, mac,
                                   sizeof mac), 0);
    cr_expect_str_eq(user, "u1");
    cr_expect_str_eq(mac, "abc==");
    cr_assert_eq(upd_dm_hmac_parse("username=\"a b\", mac=x", user, sizeof user, mac, sizeof mac), 0);
    cr_expect_str_eq(user, "a b");
    cr_expect_eq(upd_dm_hmac_parse("algorithm=SHA1, username=u, mac=x", user, sizeof user, mac, sizeof mac),
                 UPD_E_DM_PARSE);
    cr_expect_eq(upd_dm_hmac_parse("username=u", user, sizeof user, mac, sizeof mac), UPD_E_DM_PARSE);
    cr_expect_eq(upd_dm_hmac_parse("username=\"u, mac=x", user, sizeof user, mac, sizeof mac), UPD_E_DM_PARSE);
    cr_expect_eq(upd_dm_hmac_parse("garbage", user, sizeof user, mac, sizeof mac), UPD_E_DM_PARSE);
    cr_expect_eq(upd_dm_hmac_parse("username=toolongforthebuffer, mac=x", user, 4, mac, sizeof mac),
                 UPD_E_INVAL);
    cr_expect_eq(upd_dm_hmac_verify("garbage", "u", "p", NULL, 0, "", 0), UPD_E_DM_PARSE);
}

Test(dm_auth, cred_set_and_verify, .description = "a Cred made by one side verifies on the other; wrong ones do not")
{
    upd_dm_msg *m = upd_dm_msg_new();
    cr_assert_eq(upd_dm_cred_set(m, UPD_DM_AUTH_MD5, "Bruce2", "OhBehave", "Nonce", 5), 0);
    cr_expect_str_eq(m->hdr.cred->data, "Zz6EivR3yeaaENcRN6lpAQ==");
    cr_expect_str_eq(m->hdr.cred->meta.type, "syncml:auth-md5");
    cr_expect_str_eq(m->hdr.cred->meta.format, "b64");
    cr_expect_str_eq(m->hdr.source_name, "Bruce2");
    const upd_dm_cred *c = m->hdr.cred;
    cr_expect_eq(upd_dm_cred_verify(c, "Bruce2", "Bruce2", "OhBehave", "Nonce", 5), 0);
    cr_expect_eq(upd_dm_cred_verify(c, "Bruce2", "Bruce2", "OhBehave", "Other", 5), UPD_E_DM_AUTH);
    cr_expect_eq(upd_dm_cred_verify(c, "Bruce2", "Bruce2", "bad", "Nonce", 5), UPD_E_DM_AUTH);
    cr_expect_eq(upd_dm_cred_verify(c, "Mallory", "Bruce2", "OhBehave", "Nonce", 5), UPD_E_DM_AUTH,
                 "LocName must name the expected user");
    cr_expect_eq(upd_dm_cred_verify(c, NULL, "Bruce2", "OhBehave", "Nonce", 5), UPD_E_DM_AUTH);
    cr_expect_eq(upd_dm_cred_verify(NULL, "Bruce2", "Bruce2", "OhBehave", "Nonce", 5), UPD_E_DM_AUTH);

    cr_assert_eq(upd_dm_cred_set(m, UPD_DM_AUTH_BASIC, "Bruce2", "OhBehave", NULL, 0), 0);
    c = m->hdr.cred;
    cr_expect_str_eq(c->data, "QnJ1Y2UyOk9oQmVoYXZl");
    cr_expect_eq(upd_dm_cred_verify(c, NULL, "Bruce2", "OhBehave", NULL, 0), 0);
    cr_expect_eq(upd_dm_cred_verify(c, NULL, "Bruce2", "OhBehav", NULL, 0), UPD_E_DM_AUTH);
    upd_dm_cred other = *c;
    other.meta.type = "syncml:auth-X509";
    cr_expect_eq(upd_dm_cred_verify(&other, NULL, "Bruce2", "OhBehave", NULL, 0), UPD_E_DM_AUTH);
    other.meta.type = UPD_DM_AUTH_BASIC;
    other.meta.format = "chr";
    cr_expect_eq(upd_dm_cred_verify(&other, NULL, "Bruce2", "OhBehave", NULL, 0), UPD_E_DM_AUTH);
    cr_expect_eq(upd_dm_cred_set(m, "syncml:auth-X509", "u", "p", NULL, 0), UPD_E_INVAL);
    upd_dm_msg_free(m);
}

Test(dm_auth, server_cred_with_empty_nonce, .description = "server Cred as libdmclient accepts it: empty stored nonce")
{
    char out[UPD_DM_B64_MD5_LEN];
    cr_assert_eq(upd_dm_auth_md5("funambol", "srvpwd", NULL, 0, out), 0);
    upd_dm_cred c = { .meta = { .type = UPD_DM_AUTH_MD5, .format = "b64" }, .data = out };
    cr_expect_eq(upd_dm_cred_verify(&c, "funambol", "funambol", "srvpwd", "", 0), 0);
}

Test(dm_auth, base64_and_nonce, .description = "base64 both ways with blanks, malformed text, random nonces")
{
    uint8_t bin[32];
    char txt[64];
    cr_expect_eq(upd_dm_b64_encode("Nonce", 5, txt, sizeof txt), 8);
    cr_expect_str_eq(txt, "Tm9uY2U=");
    cr_expect_eq(upd_dm_b64_decode(" Tm9u\nY2U= ", bin, sizeof bin), 5);
    cr_expect(memcmp(bin, "Nonce", 5) == 0);
    cr_expect_eq(upd_dm_b64_decode("", bin, sizeof bin), 0);
    cr_expect_eq(upd_dm_b64_decode("AAAAAA==", bin, sizeof bin), 4);
    cr_expect_eq(upd_dm_b64_decode("Tm9uY2U", bin, sizeof bin), UPD_E_DM_PARSE, "truncated");
    cr_expect_eq(upd_dm_b64_decode("Tm9u*2U=", bin, sizeof bin), UPD_E_DM_PARSE, "bad character");
    cr_expect_eq(upd_dm_b64_decode("Tm9uY2U=", bin, 3), UPD_E_INVAL, "no room");
    cr_expect_eq(upd_dm_b64_encode("Nonce", 5, txt, 8), UPD_E_INVAL, "no room for the NUL");
    uint8_t a[16], b[16];
    cr_assert_eq(upd_dm_nonce_new(a, sizeof a), 0);
    cr_assert_eq(upd_dm_nonce_new(b, sizeof b), 0);
    cr_expect(memcmp(a, b, sizeof a) != 0, "two nonces differ");
}
